module github.com/stasima/stasima/services/indexer

go 1.26.8
