"""``ikm``: the operator's command line (broker, migrations, the whole system on one machine)."""
