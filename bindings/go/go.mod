module textgen

go 1.19
