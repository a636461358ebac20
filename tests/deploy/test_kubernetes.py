"""deploy/: every overlay renders with `kubectl kustomize`, core objects validate against the
Kubernetes OpenAPI schemas, custom resources are well formed, and the objects hang together:
probes, resources, security contexts, Services, migration Jobs, NetworkPolicies, autoscaling."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from shared.settings import KafkaSettings
from tests.deploy.support import (
    CONTAINER_PORT,
    DEPLOY,
    OVERLAYS,
    SERVICES,
    Manifest,
    load_settings,
    named,
    of_kind,
    platform_containers,
    pod_spec,
    render,
    settings_env,
)

# Who may call the services: the ingress controller, and Prometheus (docs/operations.md).
INGRESS_SOURCES = [
    ("ingress-nginx", None),
    ("monitoring", {"app.kubernetes.io/name": "prometheus"}),
]
# The oldest Kubernetes the manifests must suit, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CUSTOM_RESOURCES = {
    "kafka.strimzi.io/v1beta2": {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"},
    "monitoring.coreos.com/v1": {"PrometheusRule", "ServiceMonitor"},
}


def test_overlays_exist() -> None:
    assert {"dev", "production"} <= set(OVERLAYS)


def test_the_base_renders() -> None:
    assert render("base")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_validate_against_the_kubernetes_schemas(overlay: str) -> None:
    checked = 0
    for obj in render(overlay):
        if obj["kind"] in CUSTOM_RESOURCES.get(obj["apiVersion"], ()):
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = "/".join(str(p) for p in exc.path)
                pytest.fail(
                    f"{overlay}: {obj['kind']} {obj['metadata']['name']}: {where}: {exc.message}"
                )
        checked += 1
    assert checked, "nothing validated"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_are_well_formed(overlay: str) -> None:
    objects = render(overlay)
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    unknown = {
        (api, kind)
        for api, kind in kinds
        if "." in (group := api.split("/")[0])
        and not group.endswith(".k8s.io")
        and kind not in CUSTOM_RESOURCES.get(api, ())
    }
    assert not unknown, f"custom resources these tests do not check: {unknown}"
    clusters = of_kind(objects, "Kafka")
    assert len(clusters) == 1
    for obj in objects:
        if obj["kind"] not in CUSTOM_RESOURCES.get(obj["apiVersion"], ()):
            continue
        assert set(obj) <= {"apiVersion", "kind", "metadata", "spec"}, obj["kind"]
        assert obj["metadata"]["name"] and obj["metadata"]["namespace"], obj["kind"]
        assert isinstance(obj.get("spec"), dict) and obj["spec"], obj["kind"]
        if obj["apiVersion"].startswith("kafka.strimzi.io/") and obj["kind"] != "Kafka":
            cluster = obj["metadata"]["labels"]["strimzi.io/cluster"]
            assert cluster == clusters[0]["metadata"]["name"], obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_kafka_cluster_is_replicated_and_closed(overlay: str) -> None:
    objects = render(overlay)
    (cluster,) = of_kind(objects, "Kafka")
    kafka = cluster["spec"]["kafka"]
    assert set(cluster["spec"]) <= {"kafka", "entityOperator", "cruiseControl", "kafkaExporter"}
    assert set(kafka) <= {
        "version", "metadataVersion", "listeners", "authorization", "config", "rack",
        "resources", "jvmOptions", "template", "metricsConfig", "logging",
    }  # fmt: skip
    assert kafka["authorization"] == {"type": "simple"}
    for listener in kafka["listeners"]:
        assert set(listener) <= {"name", "port", "type", "tls", "authentication", "configuration"}
        assert listener["authentication"] == {"type": "scram-sha-512"}, listener["name"]
    config = kafka["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert set(cluster["spec"]["entityOperator"]) >= {"topicOperator", "userOperator"}
    pools = of_kind(objects, "KafkaNodePool")
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers >= 3, "topics keep three replicas"
    assert controllers in (3, 5), "a KRaft quorum"
    for pool in pools:
        assert set(pool["spec"]) <= {"replicas", "roles", "storage", "resources", "jvmOptions"}
        assert pool["spec"]["resources"]["limits"]["memory"], pool["metadata"]["name"]


def test_production_kafka_keeps_data_and_is_reached_over_tls() -> None:
    objects = render("production")
    for pool in of_kind(objects, "KafkaNodePool"):
        volumes = pool["spec"]["storage"]["volumes"]
        assert all(v["type"] == "persistent-claim" and not v["deleteClaim"] for v in volumes)
    (cluster,) = of_kind(objects, "Kafka")
    assert all(listener["tls"] for listener in cluster["spec"]["kafka"]["listeners"])


def deployments(objects: list[Manifest]) -> dict[str, Manifest]:
    return {
        pc.service: pc.workload for pc in platform_containers(objects) if pc.command.verb == "serve"
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_have_probes_resources_and_run_as_non_root(overlay: str) -> None:
    objects = render(overlay)
    for pc in platform_containers(objects):
        container, pod = pc.container, pod_spec(pc.workload)
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), pc.label
        assert {"cpu", "memory"} <= set(resources["limits"]), pc.label
        assert pod["securityContext"]["runAsNonRoot"] is True, pc.label
        assert pod["securityContext"]["runAsUser"] != 0, pc.label
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False, pc.label
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, pc.label
        assert security["readOnlyRootFilesystem"] is True, pc.label
        assert security["capabilities"]["drop"] == ["ALL"], pc.label
        if pc.command.verb != "serve":
            continue
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": CONTAINER_PORT}, pc.label
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            action = container[probe]["httpGet"]
            assert (action["path"], ports.get(action["port"], action["port"])) == (
                path,
                CONTAINER_PORT,
            ), f"{pc.label} {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_service_and_a_migration_job(overlay: str) -> None:
    objects = render(overlay)
    serving = deployments(objects)
    assert set(serving) == set(SERVICES)
    jobs = {
        pc.service: pc.workload
        for pc in platform_containers(objects)
        if pc.command.verb == "migrate"
    }
    assert set(jobs) == set(SERVICES)
    for service, deployment in serving.items():
        assert deployment["kind"] == "Deployment"
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        (svc,) = [
            s
            for s in of_kind(objects, "Service")
            if s["spec"]["selector"].items() <= labels.items()
        ]
        assert svc["metadata"]["name"] == service
        assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]
        job = jobs[service]
        assert job["kind"] == "Job" and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert job["spec"]["backoffLimit"] >= 1
        image = pod_spec(deployment)["containers"][0]["image"]
        assert pod_spec(job)["containers"][0]["image"] == image, "migrate with the same release"


def test_dev_runs_one_replica_without_autoscaling() -> None:
    objects = render("dev")
    for service, deployment in deployments(objects).items():
        assert deployment["spec"].get("replicas", 1) == 1, service
    assert not of_kind(objects, "HorizontalPodAutoscaler")
    assert not of_kind(objects, "PodDisruptionBudget")


def test_production_scales_and_survives_disruptions() -> None:
    objects = render("production")
    autoscalers = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(objects, "HorizontalPodAutoscaler")
    }
    budgets = of_kind(objects, "PodDisruptionBudget")
    # a consumer-group member beyond the partition count would sit idle
    partitions = min(t["spec"]["partitions"] for t in of_kind(objects, "KafkaTopic"))
    for service, deployment in deployments(objects).items():
        name = deployment["metadata"]["name"]
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"
        hpa = autoscalers[name]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] >= 2, service
        assert hpa["spec"]["maxReplicas"] <= partitions, f"{service}: idle consumers"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (pdb,) = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert pdb["spec"]["minAvailable"] == 1, service


def test_production_images_are_pinned() -> None:
    for pc in platform_containers(render("production")):
        image = pc.container["image"]
        assert "@sha256:" in image or (
            ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        ), image
        assert "/" in image, f"{image}: production pulls from the ministry's registry"


def egress_peers(policy: Manifest) -> list[tuple[dict, set[int]]]:
    return [
        (peer, {p["port"] for p in rule.get("ports", [])})
        for rule in policy["spec"].get("egress", [])
        for peer in rule["to"]
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_services_reach_only_kafka_their_database_and_the_collector(
    overlay: str,
) -> None:
    objects = render(overlay)
    (cluster,) = of_kind(objects, "Kafka")
    kafka_ports = {listener["port"] for listener in cluster["spec"]["kafka"]["listeners"]}
    kafka_pods = {
        "strimzi.io/cluster": cluster["metadata"]["name"],
        "strimzi.io/broker-role": "true",
    }
    collector = named(objects, "Deployment", "otel-collector")
    collector_labels = collector["spec"]["template"]["metadata"]["labels"]
    policies = of_kind(objects, "NetworkPolicy")
    for pc in platform_containers(objects):
        service = pc.service
        labels = pc.workload["spec"]["template"]["metadata"]["labels"]
        applying = [
            p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        own = [p for p in applying if p["metadata"]["name"] == service]
        assert len(own) == 1, pc.label
        policy = own[0]["spec"]
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
        reached = set()
        for peer, ports in egress_peers(own[0]):
            selector = peer.get("podSelector", {}).get("matchLabels", {})
            assert "ipBlock" not in peer, f"{service}: egress to an address"
            if "namespaceSelector" in peer:
                assert peer["namespaceSelector"]["matchLabels"] == {
                    "kubernetes.io/metadata.name": "kube-system"
                }
                assert selector == {"k8s-app": "kube-dns"} and ports == {53}, service
                reached.add("dns")
            elif selector == kafka_pods:
                assert ports <= {9092, 9093} and ports & kafka_ports, service
                reached.add("kafka")
            elif selector == {
                "app.kubernetes.io/name": "postgresql",
                "app.kubernetes.io/instance": f"{service}-postgres",
            }:
                assert ports == {5432}, service
                reached.add("own database")
            else:
                assert selector and selector.items() <= collector_labels.items(), service
                assert ports == {4318}, service
                reached.add("collector")
        assert reached == {"kafka", "own database", "collector", "dns"}, service
        for rule in policy["ingress"]:
            assert [p["port"] for p in rule["ports"]] == [CONTAINER_PORT], service
            for peer in rule["from"]:
                namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                pods = peer.get("podSelector", {}).get("matchLabels")
                assert (namespace, pods) in INGRESS_SOURCES, f"{service}: ingress from {peer}"
        # any other policy that applies may only add HTTPS to the identity provider
        for other in applying:
            if other is own[0]:
                continue
            assert other["spec"]["policyTypes"] == ["Egress"], other["metadata"]["name"]
            for peer, ports in egress_peers(other):
                assert set(peer) == {"ipBlock"} and ports == {443}, other["metadata"]["name"]
    assert overlay != "production" or named(objects, "NetworkPolicy", "ikm-identity-provider")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_observability_objects_are_deployed(overlay: str) -> None:
    objects = render(overlay)
    assert len(of_kind(objects, "PrometheusRule")) == 1
    monitors = of_kind(objects, "ServiceMonitor")
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    assert {m["metadata"]["name"] for m in monitors} == set(SERVICES)
    for monitor in monitors:
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        selected = [
            s
            for s in services.values()
            if monitor["spec"]["selector"]["matchLabels"].items()
            <= s["metadata"].get("labels", {}).items()
        ]
        assert [s["metadata"]["name"] for s in selected] == [monitor["metadata"]["name"]]
        assert endpoint["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}
    assert named(objects, "Deployment", "otel-collector")
    dashboards = [
        c
        for c in of_kind(objects, "ConfigMap")
        if "grafana_dashboard" in c["metadata"].get("labels", {})
    ]
    assert len(dashboards) == 1


def test_the_operators_pod_reads_dead_letters_with_the_read_only_identity() -> None:
    pod = yaml.safe_load((DEPLOY / "ops" / "ikm-ops.yaml").read_text(encoding="utf-8"))
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    (container,) = pod["spec"]["containers"]
    readable = settings_env(KafkaSettings)  # all that `ikm dlq` reads
    env = {e["name"]: e for e in container["env"]}
    assert set(env) <= set(readable)
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "ikm-operator"
    assert env["KAFKA_SASL_USERNAME"]["value"] == "ikm-operator"
    base = render("base")
    assert named(base, "KafkaUser", "ikm-operator")
    settings = load_settings(KafkaSettings, {k: e.get("value", "secret") for k, e in env.items()})
    assert settings.security_protocol == "SASL_SSL"
