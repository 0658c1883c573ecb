"""The Discord adapter: the only package that imports discord.py.

Named `discordbot`, not `discord`, so it never shadows discord.py on sys.path.
"""
