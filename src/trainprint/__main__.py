from trainprint.cli import main

main()
