from netra.cli import app

app(prog_name="netra")
