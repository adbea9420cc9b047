"""Everything the platform lists per service, generated from the services' manifests.

Each service declares itself once, in `services/<name>/src/<name>/service.toml`
(`contracts.manifest`). From those, in slot order, `python -m devstack.manifests generate`
(run by `make deploy-generate`) writes:

    pyproject.toml                     the workspace's members and sources, mypy's files and
                                       paths, import-linter's packages and contracts, ruff's
                                       first-party packages
    deploy/routes.yaml                 the route table (prefix, exposure, rate limit)
    deploy/topics.yaml                 the topics (`publishes`) and consumer groups (`consumer`)
    libs/contracts/.../topics.yaml     its packaged copy
    deploy/observability/rules/platform.yaml   FlotillaServiceDown's jobs
    skaffold.yaml                      the images, their values, the dev port forwards
    deploy/helm/flotilla/              Chart.yaml's dependencies, each service's section of
                                       values.yaml, values-dev.yaml's and values-prod.yaml's
                                       entries (production = false: off in prod), the schema
    deploy/k8s/dev-secrets.sh          the services whose database Secrets it creates
    deploy/k8s/overlays/*/kustomization.yaml   the overlays' service patterns, prod's images
                                       and DOWNSTREAMS

Hand-written files keep generated lines between marker comments (`devstack.manifests.blocks`);
`python -m devstack.manifests check` (in `make lint` and `make deploy-check`) fails naming each
stale file or block. `devstack.charts` then renders the charts from these.
"""

from devstack.manifests.files import (
    GeneratedFile,
    ManifestSetError,
    expected_files,
    stale_files,
    write_files,
)

__all__ = ["GeneratedFile", "ManifestSetError", "expected_files", "stale_files", "write_files"]
