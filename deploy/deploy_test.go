package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/version"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/riskwatch/riskwatch/internal/config"
)

// testToken stands in for RISKWATCH_HTTP_TOKEN wherever riskd's settings
// are loaded: the files take it from the environment, never hold it.
const testToken = "test-token-0123456789abcdef"

// TestEveryYAMLFileParses decodes every document of every YAML file here.
func TestEveryYAMLFileParses(t *testing.T) {
	var files []string
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	}))
	require.Contains(t, files, "compose.yaml")
	require.Contains(t, files, filepath.Join("k8s", "kustomization.yaml"))
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			docs := decodeAll[map[string]any](t, f)
			assert.NotEmpty(t, docs, "no YAML document")
		})
	}
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Hostname    string            `yaml:"hostname"`
	User        string            `yaml:"user"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Profiles    []string          `yaml:"profiles"`
	ReadOnly    bool              `yaml:"read_only"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	docs := decodeAll[composeFile](t, "compose.yaml")
	require.Len(t, docs, 1)
	return docs[0]
}

// servicesNamed returns the names of the services that are prefix-1,
// prefix-2, ... in order, and fails unless there are exactly three.
func servicesNamed(t *testing.T, c composeFile, prefix string) []string {
	t.Helper()
	var names []string
	for name := range c.Services {
		if strings.HasPrefix(name, prefix+"-") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	require.Equal(t, []string{prefix + "-1", prefix + "-2", prefix + "-3"}, names)
	return names
}

// TestComposeNATSCluster: three NATS nodes of at least 2.11, JetStream on,
// each with its own name and volume, routed to one another, and healthy
// only when JetStream is enabled.
func TestComposeNATSCluster(t *testing.T) {
	c := loadCompose(t)
	nodes := servicesNamed(t, c, "nats")
	var routes []string
	for _, n := range nodes {
		routes = append(routes, "nats-route://"+n+":6222")
	}
	seenVolumes := map[string]bool{}
	for _, name := range nodes {
		t.Run(name, func(t *testing.T) {
			s := c.Services[name]
			image := defaultOf(s.Image)
			repo, tag, ok := strings.Cut(image, ":")
			require.True(t, ok, "image %q has no tag", image)
			assert.Equal(t, "nats", repo)
			assert.True(t, strings.HasSuffix(tag, "-alpine"), "%s: the healthcheck needs the alpine image's wget", image)
			assert.True(t, version.Compare("go"+strings.TrimSuffix(tag, "-alpine"), "go2.11") >= 0,
				"%s: riskd's partitions need nats-server 2.11 or later", image)

			assert.Equal(t, name, s.Environment["NATS_SERVER_NAME"], "JetStream clustering needs a unique server name")
			assert.Equal(t, []string{"--config", "/etc/nats/riskwatch.conf"}, s.Command)
			assert.Contains(t, s.Volumes, "./nats/nats.conf:/etc/nats/riskwatch.conf:ro")
			data := name + "-data:/data"
			assert.Contains(t, s.Volumes, data, "each node keeps JetStream in its own named volume")
			assert.Contains(t, c.Volumes, name+"-data")
			assert.False(t, seenVolumes[data])
			seenVolumes[data] = true
			assert.Contains(t, strings.Join(s.Healthcheck.Test, " "), "http://127.0.0.1:8222/healthz?js-enabled-only=true")
			for _, p := range s.Ports {
				assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "NATS has no auth here: publish %q on loopback only", p)
			}

			// The config file as this node's nats-server reads it.
			t.Setenv("NATS_SERVER_NAME", name)
			o, err := server.ProcessConfigFile(filepath.Join("nats", "nats.conf"))
			require.NoError(t, err)
			assert.Equal(t, name, o.ServerName)
			assert.Equal(t, 4222, o.Port)
			assert.Equal(t, 8222, o.HTTPPort)
			assert.True(t, o.JetStream)
			assert.Equal(t, "/data", o.StoreDir, "the named volume's mount point")
			assert.Equal(t, "riskwatch", o.Cluster.Name)
			assert.Equal(t, 6222, o.Cluster.Port)
			var got []string
			for _, u := range o.Routes {
				got = append(got, u.String())
			}
			assert.ElementsMatch(t, routes, got, "every node routes to all three")
		})
	}
}

// TestComposeRiskd: three riskd members, each joining all three NATS nodes
// with R3 streams, named, reachable on their own host port with a token
// from the environment, started once NATS is healthy, and given a command
// line riskd accepts.
func TestComposeRiskd(t *testing.T) {
	c := loadCompose(t)
	nodes := servicesNamed(t, c, "nats")
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "nats://"+n+":4222")
	}
	known := riskdFlags(t)
	members := servicesNamed(t, c, "riskd")
	instances := map[string]bool{}
	hostPorts := map[string]bool{}
	var partitions []string
	for i, name := range members {
		t.Run(name, func(t *testing.T) {
			s := c.Services[name]
			assert.NotNil(t, s.Build, "built from the repository's Dockerfile")
			assert.True(t, s.User == "" || s.User == "65532" || s.User == "65532:65532", "user %q: run as the image's non-root user", s.User)
			assert.True(t, s.ReadOnly, "riskd with --nats-url writes nothing locally")
			assert.Regexp(t, `^\$\{RISKWATCH_HTTP_TOKEN:\?.+\}$`, s.Environment["RISKWATCH_HTTP_TOKEN"],
				"the token comes from the environment and is required")
			for _, n := range nodes {
				assert.Equal(t, "service_healthy", s.DependsOn[n].Condition, "starts once %s is healthy", n)
			}

			flags := parseFlags(t, s.Command)
			assert.ElementsMatch(t, urls, strings.Split(flags["nats-url"], ","), "joins every NATS node")
			assert.Equal(t, "3", flags["replicas"])
			assert.Equal(t, "0.0.0.0:7070", flags["http-listen"])
			assert.Equal(t, name, flags["instance"])
			// A lab on one machine: published on the host's loopback only,
			// which is what makes --insecure acceptable here.
			assert.Equal(t, "true", flags["insecure"], "the lab cluster says it is one")
			for _, port := range s.Ports {
				assert.True(t, strings.HasPrefix(port, "127.0.0.1:"), "%s published on loopback only", port)
			}
			assert.False(t, instances[flags["instance"]], "instance names are unique")
			instances[flags["instance"]] = true
			partitions = append(partitions, flags["partitions"])

			want := fmt.Sprintf("127.0.0.1:%d:7070", 7071+i)
			assert.Equal(t, []string{want}, s.Ports)
			assert.False(t, hostPorts[want])
			hostPorts[want] = true

			cfg := loadRiskd(t, known, s.Command)
			assert.Equal(t, flags["nats-url"], cfg.NATSURL)
			assert.Equal(t, 3, cfg.Replicas)
			assert.Equal(t, testToken, cfg.HTTPToken)
		})
	}
	assert.Len(t, slices.Compact(partitions), 1, "every member asks for the same partition count")
}

// TestComposeDemo: the demo profile writes a simulated history and sends it
// to the same three NATS nodes, through riskctl.
func TestComposeDemo(t *testing.T) {
	c := loadCompose(t)
	var urls []string
	for _, n := range servicesNamed(t, c, "nats") {
		urls = append(urls, "nats://"+n+":4222")
	}
	history, send := c.Services["demo-history"], c.Services["demo"]
	for _, s := range []composeService{history, send} {
		assert.Equal(t, []string{"demo"}, s.Profiles, "only with --profile demo")
		assert.Equal(t, []string{"/usr/local/bin/riskctl"}, s.Entrypoint)
	}
	require.NotEmpty(t, history.Command)
	require.NotEmpty(t, send.Command)
	assert.Equal(t, "demo", history.Command[0])
	assert.Equal(t, "send", send.Command[0])
	out := parseFlags(t, history.Command[1:])["o"]
	assert.Equal(t, out, send.Command[len(send.Command)-1], "send publishes the file demo wrote")
	assert.ElementsMatch(t, urls, strings.Split(parseFlags(t, send.Command[1:len(send.Command)-1])["server"], ","))
	assert.Equal(t, "service_completed_successfully", send.DependsOn["demo-history"].Condition)
}

// dockerfile is the Dockerfile as instructions: continuation lines joined,
// comments dropped.
type instruction struct{ cmd, args string }

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	require.NoError(t, sc.Err())
	return out
}

// TestDockerfile: static, stamped binaries of riskd and riskctl in a final
// stage without a shell, as uid 65532, riskd as the entrypoint with a
// default command riskd accepts, from a Go at least go.mod's.
func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)
	args := map[string]string{}
	var final []instruction // the last stage
	var build string
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			if k, v, ok := strings.Cut(in.args, "="); ok {
				args[k] = v
			}
		case "FROM":
			final = nil
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		}
		final = append(final, in)
	}
	require.NotEmpty(t, build, "no go build")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "-buildvcs=$BUILDVCS", "./cmd/riskd", "./cmd/riskctl",
		"--mount=type=cache,target=/go/pkg/mod"} {
		assert.Contains(t, build, want)
	}
	assert.Equal(t, "auto", args["BUILDVCS"], "stamp from the checkout's .git when there is one")
	assert.Regexp(t, `^gcr\.io/distroless/static-debian\d+:nonroot$`, args["BASE_IMAGE"])

	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	require.NotNil(t, goLine)
	assert.True(t, version.Compare("go"+args["GO_VERSION"], "go"+string(goLine[1])) >= 0,
		"builder Go %s is older than go.mod's %s", args["GO_VERSION"], goLine[1])

	stage := map[string][]string{}
	for _, in := range final {
		stage[in.cmd] = append(stage[in.cmd], in.args)
	}
	assert.Equal(t, []string{"${BASE_IMAGE}"}, stage["FROM"])
	assert.Equal(t, []string{"65532:65532"}, stage["USER"])
	assert.Equal(t, []string{"7070 4222"}, stage["EXPOSE"])
	assert.Equal(t, []string{`["/usr/local/bin/riskd"]`}, stage["ENTRYPOINT"])
	assert.Empty(t, stage["HEALTHCHECK"], "distroless has nothing to run a healthcheck with; probe /readyz from outside")
	assert.Contains(t, stage["COPY"], "--from=build /out/bin/riskd /out/bin/riskctl /usr/local/bin/")
	require.Len(t, stage["CMD"], 1)
	var cmd []string
	require.NoError(t, json.Unmarshal([]byte(stage["CMD"][0]), &cmd), "CMD in exec form")
	cfg := loadRiskd(t, riskdFlags(t), cmd)
	assert.Equal(t, "/var/lib/riskwatch", cfg.DataDir, "the directory the image makes uid 65532's")
	assert.Empty(t, cfg.NATSURL, "the default is one riskd with its embedded NATS")

	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(ignore), "\n") {
		assert.NotRegexp(t, `^/?\.git/?$`, strings.TrimSpace(line), ".git stays in the context: the build stamps the version from it")
	}
}

type kustomization struct {
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name string `yaml:"name"`
	} `yaml:"images"`
}

// The fields of the Kubernetes objects that the test looks at.
type meta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deployment struct {
	Spec struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	Spec struct {
		MinAvailable *int          `yaml:"minAvailable"`
		Selector     labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		ValueFrom struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	SecurityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// TestKubernetes: the kustomization's objects hold riskd to the same rules
// as compose (non-root, read-only root, probes on /readyz and /healthz,
// every NATS node, R3) and fit together (selectors, ports, names).
func TestKubernetes(t *testing.T) {
	ks := decodeAll[kustomization](t, filepath.Join("k8s", "kustomization.yaml"))
	require.Len(t, ks, 1)
	k := ks[0]
	assert.NotEmpty(t, k.Namespace)
	objs := map[string]yaml.Node{} // by kind
	for _, r := range k.Resources {
		for _, n := range decodeAll[yaml.Node](t, filepath.Join("k8s", r)) {
			var m meta
			require.NoError(t, n.Decode(&m), r)
			require.NotEmpty(t, m.APIVersion, "%s: apiVersion", r)
			require.NotContains(t, objs, m.Kind, "%s: a second %s", r, m.Kind)
			objs[m.Kind] = n
		}
	}
	var (
		d   deployment
		svc service
		pdb podDisruptionBudget
	)
	for kind, v := range map[string]any{"Deployment": &d, "Service": &svc, "PodDisruptionBudget": &pdb} {
		n, ok := objs[kind]
		require.True(t, ok, "no %s", kind)
		require.NoError(t, n.Decode(v), kind)
	}

	require.NotNil(t, d.Spec.Replicas)
	assert.Equal(t, 3, *d.Spec.Replicas)
	pod := d.Spec.Template.Spec
	labels := d.Spec.Template.Metadata.Labels
	assert.True(t, matches(d.Spec.Selector.MatchLabels, labels), "the Deployment selects its pods")
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, pod.SecurityContext.RunAsUser)
	assert.Equal(t, 65532, *pod.SecurityContext.RunAsUser, "the image's user")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.True(t, slices.ContainsFunc(k.Images, func(i struct {
		Name string `yaml:"name"`
	}) bool {
		return i.Name == c.Image
	}), "the image %q is set in kustomization.yaml's images", c.Image)
	sc := c.SecurityContext
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.LivenessProbe)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Len(t, c.Ports, 1)
	assert.Equal(t, 7070, c.Ports[0].ContainerPort)
	for _, p := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
		assert.Equal(t, c.Ports[0].Name, p.HTTPGet.Port)
	}
	for _, r := range []string{"cpu", "memory"} {
		assert.NotEmpty(t, c.Resources.Requests[r], "requests.%s", r)
	}
	assert.NotEmpty(t, c.Resources.Limits["memory"])

	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "field:" + e.ValueFrom.FieldRef.FieldPath
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	assert.Equal(t, "secret:riskd-http/token", env["RISKWATCH_HTTP_TOKEN"])
	assert.Equal(t, "field:metadata.name", env["POD_NAME"])
	flags := parseFlags(t, c.Args)
	assert.Equal(t, "$(POD_NAME)", flags["instance"], "each member is named after its pod")

	// The config file: generated into the ConfigMap the pod mounts where
	// --config points.
	require.Len(t, k.ConfigMapGenerator, 1)
	gen := k.ConfigMapGenerator[0]
	require.Len(t, gen.Files, 1)
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	var configDir string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == gen.Name {
			configDir = mounts[v.Name]
		}
	}
	require.NotEmpty(t, configDir, "no volume mounts the ConfigMap %s", gen.Name)
	assert.Equal(t, configDir+"/"+gen.Files[0], flags["config"])

	args := slices.Clone(c.Args)
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--config="); ok && v == flags["config"] {
			args[i] = "--config=" + filepath.Join("k8s", gen.Files[0])
		}
		args[i] = strings.ReplaceAll(args[i], "$(POD_NAME)", "riskd-7d9f8-abcde")
	}
	cfg := loadRiskd(t, riskdFlags(t), args)
	assert.Equal(t, "0.0.0.0:7070", cfg.HTTPListen)
	assert.Equal(t, testToken, cfg.HTTPToken)

	// NATS: the nats Helm chart's pods, all of them, as nats-values.yaml
	// makes them.
	v := decodeAll[natsValues](t, filepath.Join("k8s", "nats-values.yaml"))
	require.Len(t, v, 1)
	nv := v[0].Config
	assert.True(t, nv.Cluster.Enabled)
	assert.True(t, nv.JetStream.Enabled)
	assert.True(t, nv.JetStream.FileStore.PVC.Enabled, "JetStream on persistent volumes")
	assert.Equal(t, 3, nv.Cluster.Replicas)
	var urls []string
	for i := range nv.Cluster.Replicas {
		urls = append(urls, fmt.Sprintf("nats://nats-%d.nats-headless:4222", i))
	}
	assert.ElementsMatch(t, urls, strings.Split(cfg.NATSURL, ","), "joins every NATS node")
	assert.Equal(t, 3, cfg.Replicas)

	assert.True(t, matches(svc.Spec.Selector, labels), "the Service selects riskd's pods")
	require.Len(t, svc.Spec.Ports, 1)
	assert.Equal(t, c.Ports[0].Name, svc.Spec.Ports[0].TargetPort)

	require.NotNil(t, pdb.Spec.MinAvailable)
	assert.Equal(t, 2, *pdb.Spec.MinAvailable)
	assert.True(t, matches(pdb.Spec.Selector.MatchLabels, labels), "the budget covers riskd's pods")
}

type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `yaml:"enabled"`
			Replicas int  `yaml:"replicas"`
		} `yaml:"cluster"`
		JetStream struct {
			Enabled   bool `yaml:"enabled"`
			FileStore struct {
				PVC struct {
					Enabled bool `yaml:"enabled"`
				} `yaml:"pvc"`
			} `yaml:"fileStore"`
		} `yaml:"jetstream"`
	} `yaml:"config"`
}

// matches reports whether selector selects an object with labels.
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func decodeAll[T any](t *testing.T, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []T
	for range 100 { // a file here has a few documents
		var v T
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, path)
		out = append(out, v)
	}
	t.Fatalf("%s: more than 100 YAML documents", path)
	return nil
}

// defaultOf returns the default of a compose value written as
// ${VAR:-default}, or the value itself.
func defaultOf(s string) string {
	if m := regexp.MustCompile(`^\$\{[A-Z_]+:-(.+)\}$`).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return s
}

// parseFlags reads a command line of --flag value, --flag=value and bare
// boolean --flag into a map of flag names (without dashes) to values.
func parseFlags(t *testing.T, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		require.True(t, strings.HasPrefix(a, "-"), "argument %q is not a flag", a)
		name := strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(name, "="); ok {
			out[k] = v
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out[name] = args[i+1]
			i++
			continue
		}
		out[name] = "true"
	}
	return out
}

// riskdFlags are the flags riskd accepts, from its --help.
func riskdFlags(t *testing.T) map[string]bool {
	t.Helper()
	var usage bytes.Buffer
	_, err := config.Load([]string{"--help"}, func(string) string { return "" }, &usage)
	require.ErrorIs(t, err, flag.ErrHelp)
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)\s`).FindAllStringSubmatch(usage.String(), -1) {
		known[m[1]] = true
	}
	require.Contains(t, known, "nats-url", "riskd's --help no longer lists its flags as expected")
	return known
}

// loadRiskd loads riskd's settings from args as riskd would, with the HTTP
// token in the environment, and fails if riskd would refuse them or if a
// flag is missing from riskd's --help.
func loadRiskd(t *testing.T, known map[string]bool, args []string) *config.Config {
	t.Helper()
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			require.True(t, known[name], "--%s is not in riskd --help", name)
		}
	}
	kept := args
	env := map[string]string{"RISKWATCH_HTTP_TOKEN": testToken, "RISKWATCH_NATS_TOKEN": testToken}
	var usage bytes.Buffer
	cfg, err := config.Load(kept, func(k string) string { return env[k] }, &usage)
	require.NoError(t, err, "riskd refuses %q: %s", kept, usage.String())
	return cfg
}
