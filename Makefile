# Stasima — one Go workspace (go.work). `make run` starts the whole system; `make test` is what CI runs.
MODULES := ./pkg/... ./services/gateway/... ./services/capstore/... ./services/audit/... ./services/airlock/... ./services/indexer/... ./cmd/stasima/...
DATA ?= ./stasima-data
BIN  ?= bin/stasima

.PHONY: run build test bench lint fuzz tidy

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

fuzz:
	@scripts/fuzz.sh

tidy:
	for m in pkg services/gateway services/capstore services/audit services/airlock services/indexer cmd/stasima; do (cd $$m && go mod tidy); done
	go work sync
