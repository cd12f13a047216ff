# Tests that spawn other OS processes, count handles or measure timing run in sync modules.
Logger.configure(level: :warning)
ExUnit.start()
