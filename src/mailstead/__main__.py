from mailstead.cli import main

main()
