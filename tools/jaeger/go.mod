module github.com/flowsteer/flowsteer/tools/jaeger

go 1.26.8
