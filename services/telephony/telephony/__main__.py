from telephony.app import main

main()
