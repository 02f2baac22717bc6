// readfile: prints the size and start of each file named.
#include <stdio.h>
int main(int argc,char**argv){for(int i=1;i<argc;i++){FILE*f=fopen(argv[i],"r"); if(!f){printf("%s: cannot open\n",argv[i]);continue;} char b[256]; size_t n=fread(b,1,sizeof b,f); printf("%s: %zu bytes: %.*s\n",argv[i],n,(int)n,b); fclose(f);} return 0;}
