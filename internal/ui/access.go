package ui

import (
	"net/http"
	"strings"
)

// TokenChecker says whether a bearer token is accepted (auth.TokenStore,
// which compares in constant time).
type TokenChecker interface {
	Lookup(token string) (name string, ok bool)
}

// cookieName holds the token a browser presented once with ?token=.
const cookieName = "flowsteer_token"

// RequireToken lets through requests that carry an accepted token: an
// "Authorization: Bearer" header, or the cookie set when a browser opened
// a link with ?token= (the token then leaves the URL by a redirect). The
// cookie is HttpOnly, SameSite=Strict, and Secure when secure is true.
func RequireToken(h http.Handler, tokens TokenChecker, secure bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("token"); tok != "" {
			if _, ok := tokens.Lookup(tok); !ok {
				http.Error(w, "unauthenticated: the token is not accepted", http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
			q := r.URL.Query()
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		tok := ""
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			tok = strings.TrimSpace(a[7:])
		} else if c, err := r.Cookie(cookieName); err == nil {
			tok = c.Value
		}
		if _, ok := tokens.Lookup(tok); tok == "" || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flowsteer"`)
			http.Error(w, "unauthenticated: send Authorization: Bearer TOKEN, or open the viewer once with ?token=TOKEN", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
