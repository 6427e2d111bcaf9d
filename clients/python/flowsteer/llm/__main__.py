from flowsteer.llm.cli import main

main()
