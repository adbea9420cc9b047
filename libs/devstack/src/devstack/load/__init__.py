"""`make load`: steady, realistic traffic through the gateway, for a bounded time.

Shoppers arrive at a fixed rate (open loop: a slow answer never delays the next arrival), each
on one journey of a weighted mix (`journeys`): browsing the catalog, signing up, or placing an
order with a card from a mix of approved and declined ones and following it until it is final.
Every request is timed and counted by its answer (`tally`); the terminal shows the live rate,
latency percentiles and outcomes each second, and a summary at the end (`runner`).

    python -m devstack.load --rate 5 --duration 30          # the `make up` stack
    python -m devstack.load --gateway http://127.0.0.1:8080 --rate 20 --duration 60
"""
