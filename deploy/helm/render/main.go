// Command render renders a Helm chart's templates offline, the way `helm template` does, for the
// tests (no helm binary can be installed here: Debian does not package it). It uses what Helm's
// engine is made of: Go's text/template with the Sprig function library (Debian's
// golang-github-masterminds-sprig-dev), plus Helm's own functions (include, tpl, required, toYaml,
// fromYaml, toJson, lookup). Values: the chart's values.yaml, deep-merged with each -f file.
//
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o render ./deploy/helm/render
// Usage: render [-f values.yaml]... [-name release] [-namespace ns] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func main() {
	var files valueFiles
	flag.Var(&files, "f", "values file to merge over the chart's values.yaml (repeatable)")
	name := flag.String("name", "release", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	flag.Parse()
	if flag.NArg() != 1 {
		fail("usage: render [-f values.yaml]... CHART_DIR")
	}
	out, err := render(flag.Arg(0), files, *name, *namespace)
	if err != nil {
		fail(err.Error())
	}
	os.Stdout.WriteString(out)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "render:", msg)
	os.Exit(1)
}

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return values, nil
}

// merge deep-merges src over dst like Helm: maps merge, anything else replaces, null deletes.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, srcIsMap := v.(map[string]interface{})
		dm, dstIsMap := dst[k].(map[string]interface{})
		if srcIsMap && dstIsMap {
			dst[k] = merge(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func render(chartDir string, files []string, release, namespace string) (string, error) {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		override, err := readYAML(f)
		if err != nil {
			return "", err
		}
		values = merge(values, override)
	}
	chartName, _ := chart["name"].(string)
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": chart["version"], "AppVersion": chart["appVersion"],
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.32.0", "Major": "1", "Minor": "32"},
		},
	}

	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	// Helm removes these: a chart must not read the environment of whoever renders it.
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		_ = yaml.Unmarshal([]byte(s), &m)
		return m
	}
	funcs["toJson"] = func(v interface{}) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	root.Funcs(funcs).Option("missingkey=zero")

	paths, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	var names []string
	for _, p := range paths {
		ext := filepath.Ext(p)
		if ext != ".yaml" && ext != ".yml" && ext != ".tpl" {
			continue
		}
		text, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		name := filepath.ToSlash(filepath.Join(chartName, "templates", filepath.Base(p)))
		if _, err := root.New(name).Parse(string(text)); err != nil {
			return "", err
		}
		if !strings.HasPrefix(filepath.Base(p), "_") && ext != ".tpl" {
			names = append(names, name)
		}
	}
	var out strings.Builder
	for _, name := range names {
		var buf bytes.Buffer
		top["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		if err := root.ExecuteTemplate(&buf, name, top); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(text))
	}
	return out.String(), nil
}
