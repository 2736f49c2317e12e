import TrellisCLI

await TrellisCommand.start()
