"""The `MetaTrader5` module's types and constants, shared by the port, both adapters and the
agent: named tuples with the module's class names and fields, constants with its values."""
