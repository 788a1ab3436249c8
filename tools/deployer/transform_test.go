package main

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

var templates = PodTemplates{
	"apps/v1/Deployment":  "spec.template",
	"apps/v1/StatefulSet": "spec.template",
	"apps/v1/DaemonSet":   "spec.template",
	"batch/v1/Job":        "spec.template",
	"batch/v1/CronJob":    "spec.jobTemplate.spec.template",
}

func podTemplate() pulumi.Map {
	return pulumi.Map{
		"metadata": pulumi.Map{"labels": pulumi.Map{"app": pulumi.String("api")}},
		"spec": pulumi.Map{"containers": pulumi.Array{
			pulumi.Map{"name": pulumi.String("api"), "image": pulumi.String("x:1"), "imagePullPolicy": pulumi.String("IfNotPresent")},
		}},
	}
}

func deployment() pulumi.Map {
	return pulumi.Map{
		"apiVersion": pulumi.String("apps/v1"),
		"kind":       pulumi.String("Deployment"),
		"spec": pulumi.Map{
			"selector": pulumi.Map{"matchLabels": pulumi.Map{"app": pulumi.String("api")}},
			"strategy": pulumi.Map{"type": pulumi.String("RollingUpdate"), "rollingUpdate": pulumi.Map{"maxSurge": pulumi.Int(1)}},
			"template": podTemplate(),
		},
	}
}

func at(m pulumi.Map, path string) pulumi.Input {
	var cur pulumi.Input = m
	for _, k := range strings.Split(path, ".") {
		cur = cur.(pulumi.Map)[k]
	}
	return cur
}

func TestTransformLabelsEveryPodTemplate(t *testing.T) {
	patch := Patch{Labels: map[string]string{"app.gravitee.io/git_commit_id": "1a2b3c4d5e6f7a8"}, ImagePullPolicy: "Always", Strategy: "Recreate"}
	cases := []struct {
		typ, path string
		obj       pulumi.Map
	}{
		{"kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment", "spec.template", deployment()},
		{"kubernetes:apps/v1:StatefulSet", "spec.template", pulumi.Map{"spec": pulumi.Map{"selector": pulumi.Map{"matchLabels": pulumi.Map{"app": pulumi.String("api")}}, "template": podTemplate()}}},
		{"kubernetes:apps/v1:DaemonSet", "spec.template", pulumi.Map{"spec": pulumi.Map{"template": podTemplate()}}},
		{"kubernetes:batch/v1:Job", "spec.template", pulumi.Map{"spec": pulumi.Map{"template": podTemplate()}}},
		{"kubernetes:batch/v1:CronJob", "spec.jobTemplate.spec.template", pulumi.Map{"spec": pulumi.Map{"jobTemplate": pulumi.Map{"spec": pulumi.Map{"template": podTemplate()}}}}},
	}
	for _, c := range cases {
		var seen []string
		tr := transform(templates, patch, func(kind, name string) { seen = append(seen, kind+" "+name) })
		before := c.obj
		res := tr(context.Background(), &pulumi.ResourceTransformArgs{Custom: true, Type: c.typ, Name: "app:default/x", Props: c.obj})
		if res == nil {
			t.Fatalf("%s: not transformed", c.typ)
		}
		labels := at(res.Props, c.path+".metadata.labels").(pulumi.Map)
		if labels["app.gravitee.io/git_commit_id"] != pulumi.String("1a2b3c4d5e6f7a8") || labels["app"] != pulumi.String("api") {
			t.Errorf("%s: template labels = %v", c.typ, labels)
		}
		ctr := at(res.Props, c.path+".spec.containers").(pulumi.Array)[0].(pulumi.Map)
		if ctr["imagePullPolicy"] != pulumi.String("Always") {
			t.Errorf("%s: imagePullPolicy = %v", c.typ, ctr["imagePullPolicy"])
		}
		// The input is not modified, and selectors are never touched.
		if _, ok := at(before, c.path+".metadata.labels").(pulumi.Map)["app.gravitee.io/git_commit_id"]; ok {
			t.Errorf("%s: the transform modified its input", c.typ)
		}
		if sel, ok := res.Props["spec"].(pulumi.Map)["selector"]; ok {
			if _, has := sel.(pulumi.Map)["matchLabels"].(pulumi.Map)["app.gravitee.io/git_commit_id"]; has {
				t.Errorf("%s: selector got the label", c.typ)
			}
		}
		if len(seen) != 1 {
			t.Errorf("%s: recorded %v", c.typ, seen)
		}
	}
}

func TestTransformStrategyOnlyOnDeployments(t *testing.T) {
	tr := transform(templates, Patch{Strategy: "Recreate"}, nil)
	res := tr(context.Background(), &pulumi.ResourceTransformArgs{Custom: true, Type: "kubernetes:apps/v1:Deployment", Props: deployment()})
	st := res.Props["spec"].(pulumi.Map)["strategy"].(pulumi.Map)
	if st["type"] != pulumi.String("Recreate") || st["rollingUpdate"] != nil {
		t.Errorf("strategy = %v", st)
	}
	res = tr(context.Background(), &pulumi.ResourceTransformArgs{Custom: true, Type: "kubernetes:apps/v1:StatefulSet",
		Props: pulumi.Map{"spec": pulumi.Map{"template": podTemplate()}}})
	if _, ok := res.Props["spec"].(pulumi.Map)["strategy"]; ok {
		t.Errorf("a StatefulSet got a Deployment strategy")
	}
}

func TestTransformLeavesOthersAlone(t *testing.T) {
	tr := transform(templates, Patch{Labels: map[string]string{"k": "v"}}, nil)
	for _, args := range []*pulumi.ResourceTransformArgs{
		{Custom: false, Type: "kubernetes:helm.sh/v4:Chart", Props: pulumi.Map{"chart": pulumi.String("./c")}},
		{Custom: true, Type: "kubernetes:core/v1:Service", Props: pulumi.Map{"spec": pulumi.Map{"selector": pulumi.Map{"app": pulumi.String("api")}}}},
		{Custom: true, Type: "kubernetes:core/v1:ConfigMap", Props: pulumi.Map{"data": pulumi.Map{}}},
		{Custom: true, Type: "kubernetes:apps/v1:Deployment", Props: pulumi.Map{"spec": pulumi.Map{}}}, // no template
	} {
		if res := tr(context.Background(), args); res != nil {
			t.Errorf("%s transformed: %v", args.Type, res.Props)
		}
	}
}

func TestKindOf(t *testing.T) {
	for in, want := range map[string]string{
		"kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment": "apps/v1/Deployment",
		"kubernetes:core/v1:Pod":                                    "v1/Pod",
		"kubernetes:batch/v1:CronJob":                               "batch/v1/CronJob",
		"pulumi:providers:kubernetes":                               "",
		"kubernetes:helm.sh/v4:Chart":                               "helm.sh/v4/Chart",
		"random:index/randomId:RandomId":                            "",
	} {
		if got := kindOf(in); got != want {
			t.Errorf("kindOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRewriteKubeconfig(t *testing.T) {
	in := `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:47520
    certificate-authority-data: QUJD
- name: aks
  cluster:
    server: https://nightly-dns.hcp.westeurope.azmk8s.io:443
users:
- name: u
  user: {token: abc}
`
	out, n, err := rewriteKubeconfig([]byte(in), "kube-apiserver")
	if err != nil || n != 1 {
		t.Fatalf("rewriteKubeconfig() = %d, %v", n, err)
	}
	s := string(out)
	if !strings.Contains(s, "server: https://kube-apiserver:47520") || !strings.Contains(s, "https://nightly-dns.hcp.westeurope.azmk8s.io:443") ||
		!strings.Contains(s, "token: abc") || !strings.Contains(s, "certificate-authority-data: QUJD") {
		t.Errorf("rewritten:\n%s", s)
	}
	for _, bad := range []string{"", "not: [a, kubeconfig", "apiVersion: v1\nclusters: []\n"} {
		if _, _, err := rewriteKubeconfig([]byte(bad), "x"); err == nil {
			t.Errorf("rewriteKubeconfig(%q) accepted", bad)
		}
	}
}

func TestReadInputs(t *testing.T) {
	dir := t.TempDir()
	spec := Spec{ConfigNamespace: "graviteeio", ChartFolderKey: "localChartFolder", ImageTagKey: "docker_image_tag",
		CommitKeys: []string{"git_commit_id", "api_git_commit_id"}, NamespaceKey: "namespace"}
	mustChart(t, dir+"/cockpit")
	cfg := map[string]string{"graviteeio:localChartFolder": "./cockpit", "graviteeio:docker_image_tag": "3.0.0-nightly",
		"graviteeio:git_commit_id": "1a2b3c4d5e6f7a8", "graviteeio:api_git_commit_id": "1a2b3c4d5e6f7a8", "graviteeio:namespace": "demo"}
	get := func(c map[string]string) func(string) string { return func(k string) string { return c[k] } }
	in, err := readInputs(spec, dir, "nightly", get(cfg))
	if err != nil || in.Release != "cockpit" || in.Namespace != "demo" || in.Commit != "1a2b3c4d5e6f7a8" || in.ChartPath != dir+"/cockpit" {
		t.Fatalf("readInputs() = %+v, %v", in, err)
	}
	for key, mutate := range map[string]func(map[string]string){
		"graviteeio:localChartFolder": func(c map[string]string) { c["graviteeio:localChartFolder"] = "./missing" },
		"graviteeio:docker_image_tag": func(c map[string]string) { delete(c, "graviteeio:docker_image_tag") },
		"graviteeio:git_commit_id": func(c map[string]string) {
			delete(c, "graviteeio:git_commit_id")
			delete(c, "graviteeio:api_git_commit_id")
		},
		"graviteeio:api_git_commit_id": func(c map[string]string) { c["graviteeio:api_git_commit_id"] = "fffffffffffffff" },
	} {
		c := map[string]string{}
		for k, v := range cfg {
			c[k] = v
		}
		mutate(c)
		_, err := readInputs(spec, dir, "nightly", get(c))
		if ie, ok := err.(*inputError); !ok || ie.Key != key {
			t.Errorf("%s: readInputs() error = %v", key, err)
		}
	}
}

func TestScrubber(t *testing.T) {
	s := &scrubber{}
	s.add("pu lumi@pw\n")
	for _, leak := range []string{"x pu lumi@pw y", "postgres://pulumi:pu%20lumi%40pw@db", "pu+lumi%40pw"} {
		if got := s.clean(leak); strings.Contains(got, "lumi@pw") || strings.Contains(got, "lumi%40pw") {
			t.Errorf("clean(%q) = %q", leak, got)
		}
	}
}

// The preview and the update each run the program once: each run's list stands alone, and a
// workload the engine transforms twice in one run is listed once.
func TestPatchedListsEachRunOnce(t *testing.T) {
	var p patched
	p.add("apps/v1/Deployment", "cockpit:ns/ui")
	p.add("apps/v1/Deployment", "cockpit:ns/api")
	p.add("apps/v1/Deployment", "cockpit:ns/ui")
	if got := p.take(); strings.Join(got, ",") != "apps/v1/Deployment cockpit:ns/api,apps/v1/Deployment cockpit:ns/ui" {
		t.Errorf("preview run: %v", got)
	}
	p.add("apps/v1/Deployment", "cockpit:ns/api")
	if got := p.take(); len(got) != 1 {
		t.Errorf("update run: %v, want only what the update patched", got)
	}
}
