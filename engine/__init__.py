"""The risk engine: the service layer between the fact log, the domain and the commands."""
