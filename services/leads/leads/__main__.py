from leads.app import main

main()
