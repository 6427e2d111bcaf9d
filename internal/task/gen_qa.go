package task

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

var (
	qaFirst    = []string{"Ilsa", "Marek", "Odile", "Tobias", "Wren", "Anselm", "Dagny", "Lucan", "Mirela", "Osric", "Petra", "Soren", "Talia", "Viggo", "Yara", "Edda"}
	qaFemale   = map[string]bool{"Ilsa": true, "Odile": true, "Wren": true, "Dagny": true, "Mirela": true, "Petra": true, "Talia": true, "Yara": true, "Edda": true}
	qaSurHead  = []string{"Var", "Hollen", "Brae", "Kest", "Morr", "Tal", "Wyn", "Ost", "Fen", "Cald", "Rav", "Lind"}
	qaSurTail  = []string{"holt", "quist", "berg", "wick", "mont", "ard", "ley", "sund", "croft", "dale"}
	qaTownHead = []string{"Dorn", "Ash", "Bel", "Crane", "Elm", "Grey", "Hart", "Kil", "Mar", "North", "Pell", "Quen", "Rook", "Sel", "Thorn", "Umber"}
	qaTownTail = []string{"wick", "ford", "haven", "mere", "stead", "bury", "moor", "gate", "field", "holm"}
	qaRegions  = []string{"Lower Vessia", "the Amber Coast", "North Calloway", "the Riven Highlands", "East Marrowdale", "the Sallow Plains"}
	qaRivers   = []string{"Sable", "Quill", "Tarn", "Ember", "Wend", "Corrin", "Mossy", "Ashen"}
	qaMonths   = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	qaFields   = [][2]string{{"botanist", "Botany"}, {"cartographer", "Cartography"}, {"astronomer", "Astronomy"}, {"chemist", "Chemistry"}, {"linguist", "Linguistics"}, {"engineer", "Engineering"}, {"geologist", "Geology"}}
	qaTitleAdj = []string{"Silent", "Hollow", "Northern", "Last", "Painted", "Distant", "Amber", "Quiet"}
	qaTitleN   = []string{"Harbor", "Orchard", "Atlas", "Lantern", "Meridian", "Garden", "Compass", "Tide"}
	qaMentorT  = []string{"Professor", "Dr."}
)

// qaWorld is the made-up biography one paragraph tells.
type qaWorld struct {
	full, first, last, pron, obj, poss string
	mentor, mentorLast, mentorTitle    string
	town, region, city, river          string
	month                              string
	day, year, found, countYear, book  int
	members                            int
	field, profession, inst, title     string
}

func newQAWorld(r *rand.Rand) qaWorld {
	w := qaWorld{}
	w.first = pick(r, qaFirst)
	w.last = pick(r, qaSurHead) + pick(r, qaSurTail)
	w.full = w.first + " " + w.last
	w.pron, w.obj, w.poss = "He", "him", "his"
	if qaFemale[w.first] {
		w.pron, w.obj, w.poss = "She", "her", "her"
	}
	mf := pick(r, qaFirst)
	for mf == w.first {
		mf = pick(r, qaFirst)
	}
	w.mentorLast = pick(r, qaSurHead) + pick(r, qaSurTail)
	for w.mentorLast == w.last {
		w.mentorLast = pick(r, qaSurHead) + pick(r, qaSurTail)
	}
	w.mentor = mf + " " + w.mentorLast
	w.mentorTitle = pick(r, qaMentorT)
	w.town = pick(r, qaTownHead) + pick(r, qaTownTail)
	w.city = pick(r, qaTownHead) + pick(r, qaTownTail)
	for w.city == w.town {
		w.city = pick(r, qaTownHead) + pick(r, qaTownTail)
	}
	w.region = pick(r, qaRegions)
	w.river = pick(r, qaRivers)
	w.month = pick(r, qaMonths)
	w.day = between(r, 1, 28)
	w.year = between(r, 1820, 1960)
	w.found = w.year + between(r, 24, 45)
	w.countYear = w.found + between(r, 5, 20)
	w.book = w.found + between(r, 2, 15)
	for w.book == w.countYear {
		w.book++
	}
	w.members = between(r, 40, 4800)
	f := pick(r, qaFields)
	w.profession, w.field = f[0], f[1]
	w.inst = w.last + " Institute of " + w.field
	w.title = "The " + pick(r, qaTitleAdj) + " " + pick(r, qaTitleN)
	return w
}

func withCommas(n int) string {
	s := strconv.Itoa(n)
	if n < 1000 {
		return s
	}
	return s[:len(s)-3] + "," + s[len(s)-3:]
}

func article(word string) string {
	if strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

func (w qaWorld) paragraph(r *rand.Rand) string {
	s := []string{
		fmt.Sprintf("%s was %s %s born on %s %d, %d in %s, a small town in %s.", w.full, article(w.profession), w.profession, w.month, w.day, w.year, w.town, w.region),
		fmt.Sprintf("As a young %s, %s studied under %s %s, who later called %s the most careful student of %s generation.", w.profession, w.last, w.mentorTitle, w.mentor, w.obj, w.poss),
		fmt.Sprintf("In %d, %s founded the %s in %s.", w.found, w.last, w.inst, w.city),
		fmt.Sprintf("By %d, the institute employed %s people.", w.countYear, withCommas(w.members)),
		fmt.Sprintf("%s published a book titled %s in %d.", w.pron, w.title, w.book),
	}
	river := fmt.Sprintf("%s lies on the banks of the %s River.", w.city, w.river)
	// The river sentence moves around so position is not a cue.
	at := 3 + r.IntN(3)
	s = append(s[:at], append([]string{river}, s[at:]...)...)
	return strings.Join(s, " ")
}

// qaQuestion is one question about a world: gold aliases (none when
// unanswerable), its entity kind for distractors, and a base difficulty.
type qaQuestion struct {
	q       string
	answers []string
	kind    string // place, year, date, person, org, number, title, river
	diff    float64
}

func (w qaWorld) answerable() []qaQuestion {
	mentorFull := w.mentorTitle + " " + w.mentor
	return []qaQuestion{
		{fmt.Sprintf("In which town was %s born?", w.full), []string{w.town, w.town + ", " + w.region}, "place", 0.25},
		{fmt.Sprintf("In what year was %s born?", w.full), []string{strconv.Itoa(w.year)}, "year", 0.3},
		{fmt.Sprintf("On what date was %s born?", w.full), []string{fmt.Sprintf("%s %d, %d", w.month, w.day, w.year), fmt.Sprintf("%d %s %d", w.day, w.month, w.year)}, "date", 0.35},
		{fmt.Sprintf("What institution did %s found?", w.full), []string{"the " + w.inst, w.last + " Institute"}, "org", 0.3},
		{fmt.Sprintf("In which city did %s found the %s?", w.last, w.inst), []string{w.city}, "place", 0.3},
		{fmt.Sprintf("How many people did the %s employ by %d?", w.inst, w.countYear), []string{withCommas(w.members), strconv.Itoa(w.members)}, "number", 0.4},
		{fmt.Sprintf("Under whom did %s study?", w.full), []string{w.mentor, mentorFull}, "person", 0.3},
		{fmt.Sprintf("What is the title of the book %s published in %d?", w.full, w.book), []string{w.title, strings.TrimPrefix(w.title, "The ")}, "title", 0.3},
		{fmt.Sprintf("In which town was the founder of the %s born?", w.inst), []string{w.town}, "place", 0.7},
		{fmt.Sprintf("On which river lies the city where %s founded %s institute?", w.last, strings.ToLower(w.poss)), []string{w.river + " River", w.river}, "river", 0.75},
		{fmt.Sprintf("Who taught the author of %s?", w.title), []string{w.mentor, mentorFull}, "person", 0.7},
	}
}

// unanswerable questions ask for facts the paragraph never states.
func (w qaWorld) unanswerable() []qaQuestion {
	return []qaQuestion{
		{fmt.Sprintf("In what year did %s die?", w.full), nil, "year", 0.55},
		{fmt.Sprintf("What was the name of %s's younger brother?", w.full), nil, "person", 0.5},
		{fmt.Sprintf("Which university awarded %s an honorary degree?", w.full), nil, "org", 0.55},
		{fmt.Sprintf("How many students attended the %s in its first year?", w.inst), nil, "number", 0.6},
		{fmt.Sprintf("Who succeeded %s as director of the %s?", w.last, w.inst), nil, "person", 0.55},
		{fmt.Sprintf("In which city did %s die?", w.full), nil, "place", 0.55},
	}
}

// entities are the paragraph's spans by kind: the pool distractors come
// from, so a wrong answer is always something the passage does say.
func (w qaWorld) entities() map[string][]string {
	return map[string][]string{
		"place":  {w.town, w.city, w.region},
		"year":   {strconv.Itoa(w.year), strconv.Itoa(w.found), strconv.Itoa(w.countYear), strconv.Itoa(w.book)},
		"date":   {fmt.Sprintf("%s %d, %d", w.month, w.day, w.found), fmt.Sprintf("%s %d, %d", w.month, w.day, w.book), strconv.Itoa(w.year)},
		"person": {w.full, w.mentor},
		"org":    {w.inst, w.title},
		"number": {withCommas(w.members), strconv.Itoa(w.countYear), strconv.Itoa(w.found)},
		"title":  {w.title, w.inst},
		"river":  {w.city, w.town, w.region},
	}
}

func genQA(k int, r *rand.Rand) Task { return qaTask(r, false) }

// genQAEasy asks only answerable single-hop questions (Level Easy).
func genQAEasy(k int, r *rand.Rand) Task { return qaTask(r, true) }

// easyQA is the base difficulty below which a question is single-hop.
const easyQA = 0.5

func qaTask(r *rand.Rand, easy bool) Task {
	w := newQAWorld(r)
	para := w.paragraph(r)
	var q qaQuestion
	unans := !easy && r.Float64() < 0.2
	switch {
	case unans:
		q = pick(r, w.unanswerable())
	case easy:
		var single []qaQuestion
		for _, c := range w.answerable() {
			if c.diff < easyQA {
				single = append(single, c)
			}
		}
		q = pick(r, single)
	default:
		q = pick(r, w.answerable())
	}
	ents := w.entities()
	gold := map[string]bool{}
	for _, a := range q.answers {
		gold[NormalizeQA(a)] = true
	}
	var dis []string
	seen := map[string]bool{}
	addFrom := func(items []string) {
		for _, e := range items {
			n := NormalizeQA(e)
			if len(dis) >= 3 || gold[n] || seen[n] || tokenF1(e, firstOr(q.answers)) >= 0.5 {
				continue
			}
			seen[n] = true
			dis = append(dis, e)
		}
	}
	addFrom(ents[q.kind])
	for _, kind := range []string{"place", "person", "year", "org", "number"} {
		addFrom(ents[kind])
	}
	diff := math.Min(1, math.Round((q.diff+0.1*r.Float64())*100)/100)
	return Task{
		Family: QA, Source: SourceSyntheticQA,
		Question: q.q, Context: para,
		Answers: q.answers, Unanswerable: unans,
		Difficulty:  diff,
		Distractors: dis,
	}
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
