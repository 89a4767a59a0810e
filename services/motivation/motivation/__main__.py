from motivation.app import main

main()
