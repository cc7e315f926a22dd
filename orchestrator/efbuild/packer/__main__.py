from efbuild.packer.cli import main

main()
