# Stasima — one Go workspace (go.work). `make run` starts the whole system; `make test` is what CI runs.
MODULES := ./pkg/... ./services/gateway/... ./services/capstore/... ./services/audit/... ./services/airlock/... ./services/indexer/... ./cmd/stasima/...
DATA ?= ./stasima-data
BIN  ?= bin/stasima

MODDIRS := pkg services/gateway services/capstore services/audit services/airlock services/indexer cmd/stasima
GOVULNCHECK ?= golang.org/x/vuln/cmd/govulncheck@v1.9.0

.PHONY: run build test bench lint fuzz tidy check-tidy

run: build
	$(BIN) up --data $(DATA)

build:
	go build -o $(BIN) ./cmd/stasima

test:
	go test -race -count=1 -timeout 12m $(MODULES)

bench:
	@scripts/bench.sh

lint:
	go vet $(MODULES)
	@out=$$(gofmt -l pkg services cmd); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@sc=$$(go env GOPATH)/bin/staticcheck; [ -x $$sc ] || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 || true; \
	if [ -x $$sc ]; then $$sc $(MODULES); else echo "staticcheck did not install; skipped"; fi
	for m in $(MODDIRS); do (cd $$m && go run $(GOVULNCHECK) ./...) || exit 1; done

fuzz:
	@scripts/fuzz.sh

# tidy writes every module's go.mod (direct dependencies as direct; the workspace's own modules
# required and replaced by path, so tidy needs no proxy for them) and syncs the workspace.
tidy:
	for m in $(MODDIRS); do (cd $$m && go mod tidy); done
	go work sync

# check-tidy fails when a go.mod/go.sum differs from what make tidy writes (CI, before test).
check-tidy:
	@scripts/check-tidy.sh
