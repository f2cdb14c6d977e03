
w
 
command
commandstring

env
envmap(string)

cwd
cwdstring

args
argslist(string)