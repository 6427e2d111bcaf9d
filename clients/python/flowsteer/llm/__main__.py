from flowsteer.llm.policy import main

main()
