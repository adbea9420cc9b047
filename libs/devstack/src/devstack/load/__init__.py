"""`make load`: steady, realistic traffic through the gateway, for a bounded time or until
stopped.

Shoppers arrive at a fixed rate (open loop: a slow answer never delays the next arrival), each
on one journey of a weighted mix (`journeys`): browsing the catalog, signing up, or placing an
order with a card from a mix of approved and declined ones and following it until it is final.
Every request is timed and counted by its answer (`tally`); progress snapshots (live rate,
latency percentiles, outcomes) and the summary at the end go to a terminal as text lines, or to
a log pipeline as JSON lines (`report`). `--continuous` runs until SIGTERM or SIGINT, then lets
the journeys under way finish before the summary: the umbrella chart's optional load generator
(`loadGenerator` in deploy/helm/flotilla) runs it that way in a pod, from the image `make images`
builds (the Dockerfile's `load-generator` stage).

    python -m devstack.load --rate 5 --duration 30          # the `make up` stack
    python -m devstack.load --gateway http://127.0.0.1:8080 --rate 20 --duration 60
    python -m devstack.load --gateway http://flotilla-gateway:8080 --rate 1 --continuous \
        --log-format json --progress-every 30 --wait-for-gateway 300      # as in the pod

Bad settings end with a usage message (exit 2); a gateway that does not answer (after
`--wait-for-gateway` seconds), or a catalog with nothing to order, ends with the reason (exit 1).
"""
