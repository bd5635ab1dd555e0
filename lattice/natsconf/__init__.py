from lattice.natsconf.render import *  # noqa: F403
