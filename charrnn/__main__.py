from charrnn.cli.entry import main

main()
