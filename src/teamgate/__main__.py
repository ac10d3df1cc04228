from teamgate.cli import main

main()
