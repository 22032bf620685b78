from trainprint.cli.main import main

main()
