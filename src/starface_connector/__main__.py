from starface_connector.cli.main import run

run()
