package main

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/services/airlock"
)

// configKey documents one key of the flat TOML config file (operations §8): its default and
// its STASIMA_* environment variable, which overrides the file.
type configKey struct {
	Key, Default, Doc string
}

// configKeys lists every key fileConfig reads, in the order `stasima config --help` shows them.
var configKeys = []configKey{
	{"git_dir", "<data dir>/repo.git without a file; required in a file", "the bare repository"},
	{"data_dir", "git_dir's parent with a file, else ./stasima-data", "lock, bus record and embedded bus store (--data wins)"},
	{"deployment_name", "", "the deployment's name (the TOTP issuer)"},
	{"approvers", "practitioner", "who may land: a list, or comma-separated; the first sorted is the default"},
	{"canon_ref", refs.DefaultCanon, "the canon branch"},
	{"seq_origin", fmt.Sprintf("%#x", hexseq.DefaultOrigin), "canon's seq before the first land"},
	{"committer_name", "capstore", "git committer name"},
	{"committer_email", "capstore@stasima.local", "git committer email"},
	{"orientation_base", "technical/orientation", "the orientation slots' folder"},
	{"map_db", "<git_dir's parent>/map_index.sqlite", "the index's SQLite file"},
	{"index_dsn", "", "postgres://… puts the index in PostgreSQL"},
	{"audit_db", "<git_dir's parent>/audit.sqlite", "the audit log's SQLite file"},
	{"audit_dsn", "", "postgres://… puts the audit log in PostgreSQL"},
	{"auth_dsn", "", "postgres://… for the OAuth door's store (default: SQLite beside audit_db)"},
	{"embed_backend", "stub (local-server when STASIMA_EMBED_URL is set)", "stub | local-server"},
	{"embed_url", "", "OpenAI-compatible embedding server, e.g. http://localhost:11434"},
	{"embed_model", "nomic-embed-text", "embedding model"},
	{"embed_dim", "768", "the model's dimension"},
	{"embed_doc_prefix", "search_document: ", "prefix of embedded documents"},
	{"embed_query_prefix", "search_query: ", "prefix of embedded queries"},
	{"search_mode", "hybrid", "hybrid | embedding"},
	{"search_score_floor", "the embedder's default", "lowest score a search returns"},
	{"airlock_secret_path", "<git_dir's parent>/totp.secret", "the airlock's TOTP secret file"},
	{"airlock_land_secret", "", "optional second, land-only TOTP secret file"},
	{"airlock_floor_s", "120", "earliest land after staging, seconds"},
	{"airlock_ceiling_s", "7200", "a stage expires after, seconds"},
	{"airlock_failure_budget", fmt.Sprint(airlock.DefaultConfig().FailureBudget), "wrong codes within the period that lock every code check"},
	{"airlock_failure_period_s", fmt.Sprint(airlock.DefaultConfig().FailurePeriod.Seconds()), "the failure budget's period, seconds"},
	{"airlock_lock_s", fmt.Sprint(airlock.DefaultConfig().LockFor.Seconds()), "how long the lock holds, seconds"},
	{"transport", "stdio (up: http)", "stdio | http: how the gateway serves MCP"},
	{"http_host", "127.0.0.1", "HTTP bind host: loopback or Tailscale 100.64.0.0/10"},
	{"http_port", "8787", "HTTP bind port"},
	{"http_public_url", "", "https URL behind the TLS proxy; arms the OAuth door"},
	{"http_allowed_hosts", "", "extra Host headers accepted (comma-separated in the env)"},
	{"binding_mode", "strict", "strict | witness | off: session binding (identity.md)"},
	{"rest_session_idle_s", "3600", "a REST session ends after this idle time, seconds"},
	{"max_body_bytes", "1048576", "largest request or entry body"},
	{"mcp_max_sessions", "1024", "concurrent MCP sessions; the least recently active closes beyond it"},
	{"git_timeout", "0 (auto)", "deadline of a local git operation, seconds"},
	{"git_network_timeout", "300", "deadline of a git push or fetch, seconds"},
	{"nats_url", "", "external bus (serve, compose); empty = the embedded bus"},
	{"nats_creds", "", "this component's bus credentials file (external bus)"},
	{"nats_port", "0 (chosen at start)", "the embedded bus's port"},
	{"bus_prefix", bus.DefaultPrefix, "subject and stream prefix, so deployments can share a bus"},
	{"events_max_age_days", "30", "how long the EVENTS stream keeps events"},
	{"audit_barrier_timeout_s", "10", "how long a write waits for its audit row"},
	{"index_barrier_timeout_s", "70", "how long a write waits for the index"},
	{"witness_key", "", "a witness's signer key file (created 0600): admin backup and mirror get its cosignature"},
	{"witness_state", "<witness_key's dir>/witness-state", "the witness's state: the last checkpoint it cosigned"},
}

// configEnvAliases are the variables whose names are not STASIMA_ plus the key upper-cased:
// 0.1.5's STASIMA_BINDING (O-config-5) and the data dir's STASIMA_DATA, the variable of --data.
var configEnvAliases = map[string]string{"binding_mode": "STASIMA_BINDING", "data_dir": "STASIMA_DATA"}

// configEnvVar names the STASIMA_* variable that overrides a config key: STASIMA_ and the key
// upper-cased (STASIMA_GIT_DIR for git_dir, as O-config-2 names eight of them), or its alias.
func configEnvVar(key string) string {
	if v, ok := configEnvAliases[key]; ok {
		return v
	}
	return "STASIMA_" + strings.ToUpper(key)
}

// overlayEnv sets each field of f whose key's variable is set and non-empty (O-config-2's
// rule, for every key): strings as given (a prefix keeps its trailing space), lists split on commas with items trimmed and empties
// dropped, integers and numbers as text converted later like the file's (O-config-3).
// binding_mode is case-insensitive (I-3).
func overlayEnv(f *fileConfig) error {
	v := reflect.ValueOf(f).Elem()
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("toml")
		val := os.Getenv(configEnvVar(key))
		if key == "" || strings.TrimSpace(val) == "" {
			continue
		}
		if !utf8.ValidString(val) { // as the file, which TOML requires to be UTF-8
			return fmt.Errorf("%s is not valid UTF-8", configEnvVar(key))
		}
		fv := v.Field(i)
		switch {
		case key == "binding_mode":
			fv.SetString(strings.ToLower(strings.TrimSpace(val)))
		case fv.Kind() == reflect.String:
			fv.SetString(val)
		case fv.Kind() == reflect.Slice:
			var items []string
			for _, it := range strings.Split(val, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			fv.Set(reflect.ValueOf(items))
		case fv.Kind() == reflect.Interface:
			fv.Set(reflect.ValueOf(val))
		default:
			return fmt.Errorf("%s: no conversion for config key %s", configEnvVar(key), key)
		}
	}
	return nil
}

// unknownEnv lists the set STASIMA_* variables that name neither a config key nor one of the
// process variables, sorted: a misspelt variable is reported, as an unknown key is (O-config-4).
func unknownEnv(environ []string) []string {
	known := map[string]bool{}
	for _, k := range configKeys {
		known[configEnvVar(k.Key)] = true
	}
	for _, k := range processEnv {
		known[k] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "STASIMA_") && !known[name] &&
			!strings.HasPrefix(name, "STASIMA_TEST_") && !strings.HasPrefix(name, "STASIMA_BENCH_") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// processEnv are the STASIMA_* variables that are not config keys: the file, the --http flag,
// a gateway's session binding (identity.md I-1) and compose's seed folder; STASIMA_TEST_* and
// STASIMA_BENCH_* are the test and benchmark knobs.
var processEnv = []string{"STASIMA_CONFIG", "STASIMA_HTTP", "STASIMA_INSTANCE", "STASIMA_PORT", "STASIMA_SEED_DIR"}

// configHelp is `stasima config --help`: every key, its default and its variable.
func configHelp() string {
	var b strings.Builder
	b.WriteString(`The config file is flat TOML (operations §8), named by --config or STASIMA_CONFIG; unknown
keys are refused. Every key's STASIMA_* environment variable (set and non-empty) overrides the
file, and the flags override both: --data (STASIMA_DATA), --config (STASIMA_CONFIG), --http
(STASIMA_HTTP). Lists are comma-separated in the environment. Relative paths in the file resolve
against its directory; in a variable, against the working directory.

`)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, k := range configKeys {
		def := k.Default
		if def == "" {
			def = "-"
		}
		env := configEnvVar(k.Key)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Key, env, def, k.Doc)
	}
	w.Flush()
	b.WriteString(`
Not file keys: STASIMA_CONFIG (the file), STASIMA_HTTP (--http), and a gateway's session
binding (identity.md I-1): STASIMA_INSTANCE (pinned seat) or STASIMA_PORT (port-durable token).
Any other STASIMA_* variable is reported as unknown on stderr.`)
	return b.String()
}
