from deals.app import main

main()
