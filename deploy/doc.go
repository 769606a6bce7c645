// Package deploy holds Riskwatch's deployment files, not code: the docker
// compose cluster (compose.yaml, nats/), the Kubernetes manifests (k8s/)
// and, at the repository root, the Dockerfile. Its tests parse them and
// hold them to what riskd expects: every riskd joins every NATS node, runs
// as a non-root user, is probed on /readyz, and is given only settings
// riskd accepts. docs/deploy.md describes the files.
package deploy
