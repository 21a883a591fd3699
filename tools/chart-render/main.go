// Command chart-render renders a Helm chart's templates the way `helm template` does, for CI machines
// where Helm itself cannot be installed. It uses Go's text/template with sprig's function map (the
// engine Helm uses) and adds, written here from their documented behaviour, the functions Helm itself
// defines that our chart needs: include, tpl, toYaml, fromYaml, fromYamlArray, toJson's inverse
// fromJson, required, fail and lookup (a stub: there is no cluster).
//
// It covers what our chart uses, not all of Helm: no subcharts, no .Files, no hooks, no schema check
// (the TypeScript test validates values.schema.json), and --set takes one key=value per flag with dotted
// keys (escape a dot in a key as \.; use --set-json for lists and objects).
//
// Usage: chart-render [--values f.yaml]... [--set k=v]... [--set-string k=v]... [--set-json k=json]...
//
//	[--name release] [--namespace ns] [--kube-version v1.30.0] [--notes] CHART_DIR
//
// Output: every rendered manifest as one YAML stream, each preceded by "# Source: <chart>/templates/<file>";
// with --notes, the rendered NOTES.txt instead. Errors go to stderr with exit status 1.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml2 "gopkg.in/yaml.v2"
	yaml3 "gopkg.in/yaml.v3"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var valueFiles, sets, setStrings, setJSONs multiFlag
	flags := flag.NewFlagSet("chart-render", flag.ContinueOnError)
	flags.Var(&valueFiles, "values", "a values file merged over values.yaml (repeatable)")
	flags.Var(&valueFiles, "f", "short for --values")
	flags.Var(&sets, "set", "key=value, value typed like Helm's --set (repeatable)")
	flags.Var(&setStrings, "set-string", "key=value, value always a string (repeatable)")
	flags.Var(&setJSONs, "set-json", "key=JSON (repeatable)")
	name := flags.String("name", "release-name", "release name")
	namespace := flags.String("namespace", "default", "release namespace")
	kubeVersion := flags.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities")
	notes := flags.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if flags.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "chart-render: exactly one chart directory expected")
		os.Exit(2)
	}
	out, err := run(flags.Arg(0), options{
		valueFiles: valueFiles, sets: sets, setStrings: setStrings, setJSONs: setJSONs,
		releaseName: *name, namespace: *namespace, kubeVersion: *kubeVersion, notes: *notes,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart-render: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

type options struct {
	valueFiles, sets, setStrings, setJSONs []string
	releaseName, namespace, kubeVersion    string
	notes                                  bool
}

func run(chartDir string, opts options) (string, error) {
	chart, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	chartName, _ := chart["name"].(string)
	if chartName == "" {
		return "", errors.New("Chart.yaml has no name")
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if values == nil {
		values = map[string]interface{}{}
	}
	// Helm's order of precedence: values files, then --set-json, --set, --set-string.
	for _, f := range opts.valueFiles {
		extra, err := readYAMLMap(f)
		if err != nil {
			return "", err
		}
		mergeInto(values, extra)
	}
	for _, s := range opts.setJSONs {
		if err := applySet(values, s, parseJSONValue); err != nil {
			return "", fmt.Errorf("--set-json %s: %w", s, err)
		}
	}
	for _, s := range opts.sets {
		if err := applySet(values, s, parseTypedValue); err != nil {
			return "", fmt.Errorf("--set %s: %w", s, err)
		}
	}
	for _, s := range opts.setStrings {
		if err := applySet(values, s, func(v string) (interface{}, error) { return v, nil }); err != nil {
			return "", fmt.Errorf("--set-string %s: %w", s, err)
		}
	}

	files, err := templateFiles(chartDir, chartName)
	if err != nil {
		return "", err
	}
	root := template.New(chartName)
	root.Option("missingkey=zero")
	root.Funcs(funcMap(func() *template.Template { return root }))
	for _, f := range files {
		if _, err := root.New(f.name).Parse(f.text); err != nil {
			return "", err
		}
	}

	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": opts.releaseName, "Namespace": opts.namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart":        helmChartFields(chart),
		"Capabilities": newCapabilities(opts.kubeVersion),
	}

	var stream strings.Builder
	for _, f := range files {
		base := path.Base(f.name)
		if strings.HasPrefix(base, "_") || (base == "NOTES.txt") != opts.notes {
			continue
		}
		data := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": f.name, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, f.name, data); err != nil {
			return "", err
		}
		// missingkey=zero prints "<no value>" for a missing map key; Helm blanks it the same way.
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if opts.notes {
			stream.WriteString(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		stream.WriteString("---\n# Source: " + f.name + "\n" + strings.TrimLeft(text, "\n"))
		if !strings.HasSuffix(text, "\n") {
			stream.WriteString("\n")
		}
	}
	return stream.String(), nil
}

type templateFile struct{ name, text string }

// templateFiles returns templates/** named as Helm names them ("<chart>/templates/<path>"), sorted.
func templateFiles(chartDir, chartName string) ([]templateFile, error) {
	var files []templateFile
	base := filepath.Join(chartDir, "templates")
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		text, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, templateFile{name: chartName + "/templates/" + filepath.ToSlash(rel), text: string(text)})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, err
}

func funcMap(root func() *template.Template) template.FuncMap {
	fm := sprig.TxtFuncMap()
	// Helm removes these so that a render never depends on the machine it runs on.
	delete(fm, "env")
	delete(fm, "expandenv")

	depth := 0
	fm["include"] = func(name string, data interface{}) (string, error) {
		if depth > 100 {
			return "", fmt.Errorf("include %q: nested more than 100 deep (a template includes itself?)", name)
		}
		depth++
		defer func() { depth-- }()
		var buf bytes.Buffer
		if err := root().ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	fm["tpl"] = func(text string, data interface{}) (string, error) {
		// A clone, so the snippet sees the chart's named templates without adding to them.
		clone, err := root().Clone()
		if err != nil {
			return "", err
		}
		t, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	fm["toYaml"] = toYAML
	fm["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := decodeYAML([]byte(s), &m); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		return m
	}
	fm["fromYamlArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := decodeYAML([]byte(s), &a); err != nil {
			return []interface{}{err.Error()}
		}
		return a
	}
	fm["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		return m
	}
	fm["required"] = func(message string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(message)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(message)
		}
		return v, nil
	}
	fm["fail"] = func(message string) (string, error) { return "", errors.New(message) }
	// No cluster to ask: Helm's `helm template` answers lookups with an empty object too.
	fm["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return fm
}

// toYAML renders like Helm's toYaml: through JSON (so struct tags and key order match: sorted), then
// YAML with two-space block style, no trailing newline.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic interface{}
	if err := yaml2.Unmarshal(j, &generic); err != nil {
		return ""
	}
	out, err := yaml2.Marshal(generic)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

// decodeYAML decodes YAML into JSON types, as Helm does (numbers become float64, maps have string keys),
// so templates see the same types Helm would give them.
func decodeYAML(data []byte, into interface{}) error {
	var raw interface{}
	if err := yaml3.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		return nil
	}
	j, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, into)
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := decodeYAML(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// mergeInto merges src over dst: maps merge key by key, anything else replaces, null deletes the key.
func mergeInto(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func applySet(values map[string]interface{}, assignment string, parse func(string) (interface{}, error)) error {
	eq := strings.IndexByte(assignment, '=')
	if eq <= 0 {
		return errors.New("expected key=value")
	}
	keys := splitKey(assignment[:eq])
	v, err := parse(assignment[eq+1:])
	if err != nil {
		return err
	}
	node := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := node[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			node[k] = next
		}
		node = next
	}
	last := keys[len(keys)-1]
	if v == nil {
		delete(node, last)
	} else {
		node[last] = v
	}
	return nil
}

// splitKey splits "a.b\.c" into ["a", "b.c"].
func splitKey(key string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		switch {
		case key[i] == '\\' && i+1 < len(key) && key[i+1] == '.':
			cur.WriteByte('.')
			i++
		case key[i] == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(key[i])
		}
	}
	return append(parts, cur.String())
}

// parseTypedValue types a --set value as Helm does: true/false, null, integers (int64); else a string.
func parseTypedValue(s string) (interface{}, error) {
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || !strings.HasPrefix(s, "0")) {
		return n, nil
	}
	return s, nil
}

func parseJSONValue(s string) (interface{}, error) {
	var v interface{}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return v, nil
}

// helmChartFields exposes Chart.yaml under the names Helm gives them (.Chart.Name, .Chart.AppVersion...).
func helmChartFields(chart map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(chart))
	for k, v := range chart {
		switch k {
		case "apiVersion":
			out["APIVersion"] = v
		case "kubeVersion":
			out["KubeVersion"] = v
		default:
			out[strings.ToUpper(k[:1])+k[1:]] = v
		}
	}
	return out
}

type kubeVersion struct {
	Version, Major, Minor, GitVersion string
}

func (k kubeVersion) String() string { return k.Version }

type versionSet []string

func (s versionSet) Has(v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions versionSet
}

func newCapabilities(version string) capabilities {
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	k := kubeVersion{Version: version, GitVersion: version}
	if len(parts) > 0 {
		k.Major = parts[0]
	}
	if len(parts) > 1 {
		k.Minor = parts[1]
	}
	return capabilities{
		KubeVersion: k,
		APIVersions: versionSet{"v1", "apps/v1", "policy/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1"},
	}
}
