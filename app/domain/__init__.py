"""The rules of error analysis and of running a project. No HTTP in here."""
