from directorybolt.cli import main

main()
