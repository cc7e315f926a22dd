from efbuild.cli import main

main()
