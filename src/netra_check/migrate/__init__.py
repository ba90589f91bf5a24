"""`netra migrate PATH`: codemods that move a pytest or unittest suite onto Netra's conventions.

Each codemod is one module in `codemods/` (what it changes, what it leaves
alone and why); `engine` picks the files, runs the codemods in order and
collects what they refused; `command` is the command line. libcst (concrete
syntax trees, so comments and formatting survive) is imported only when a
migration runs, never by `netra check`.
"""
