module c1m-lab/bench/go

// Standard library only: the benches build these programs offline with the machine's own Go.
go 1.22
