"""The applications on top of the book: the `tfbook` command, `make book`'s build, class
grading and the release of the student edition. They use the core (`tfbook`) and the
`checks`; nothing imports them."""
