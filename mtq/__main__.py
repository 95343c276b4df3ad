from mtq.cli import main

main()
