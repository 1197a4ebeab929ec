export function benchmarks(){return [];}
