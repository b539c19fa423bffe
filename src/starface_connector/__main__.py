from starface_connector.cli import run

run()
