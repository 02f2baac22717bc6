// args: prints argc, argv (argv[0] only by basename), the whole environment
// in order, and a few deterministic facts about the auxiliary vector.
//
// Every argument is printed between brackets so that spaces and empty
// strings are visible. Lines starting with "FAIL" mark a broken invariant;
// the exit status is then 1.
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;
extern char _start[];

static int failed;

static void fail(const char *what) {
	printf("FAIL: %s\n", what);
	failed = 1;
}

int main(int argc, char **argv) {
	printf("argc=%d\n", argc);
	const char *base = argv[0] ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argv[0];
	printf("argv[0] basename=[%s]\n", base ? base : "(null)");
	for (int i = 1; i < argc; i++)
		printf("argv[%d]=[%s]\n", i, argv[i]);
	if (argv[argc] != NULL)
		fail("argv not NULL-terminated");

	int n = 0;
	for (char **e = environ; *e; e++)
		n++;
	printf("envc=%d\n", n);
	for (char **e = environ; *e; e++)
		printf("env=[%s]\n", *e);

	unsigned long pagesz = getauxval(AT_PAGESZ);
	printf("AT_PAGESZ=%lu\n", pagesz);
	if (pagesz != 4096)
		fail("AT_PAGESZ != 4096");

	unsigned long phnum = getauxval(AT_PHNUM);
	unsigned long phent = getauxval(AT_PHENT);
	printf("AT_PHNUM present: %s\n", phnum ? "yes" : "no");
	printf("AT_PHENT=%lu\n", phent);
	if (!phnum)
		fail("AT_PHNUM missing");
	if (phent != sizeof(Elf64_Phdr))
		fail("AT_PHENT != sizeof(Elf64_Phdr)");

	unsigned long phdr = getauxval(AT_PHDR);
	printf("AT_PHDR present: %s\n", phdr ? "yes" : "no");
	if (!phdr) {
		fail("AT_PHDR missing");
	} else {
		/* The program headers must really be mapped there: find PT_LOAD. */
		const Elf64_Phdr *ph = (const Elf64_Phdr *)phdr;
		int loads = 0;
		for (unsigned long i = 0; i < phnum; i++)
			if (ph[i].p_type == PT_LOAD)
				loads++;
		printf("AT_PHDR has PT_LOAD: %s\n", loads ? "yes" : "no");
	}

	unsigned long rnd = getauxval(AT_RANDOM);
	printf("AT_RANDOM non-null: %s\n", rnd ? "yes" : "no");
	if (!rnd)
		fail("AT_RANDOM is null");

	// AT_BASE: 0 for a program without PT_INTERP, else where the
	// interpreter was loaded (its ELF header).
	unsigned long at_base = getauxval(AT_BASE);
	int base_ok = at_base == 0 || memcmp((void *)at_base, "\177ELF", 4) == 0;
	printf("AT_BASE zero or an ELF header: %s\n", base_ok ? "yes" : "no");
	if (!base_ok)
		fail("AT_BASE does not point at the interpreter");

	unsigned long entry = getauxval(AT_ENTRY);
	printf("AT_ENTRY == &_start: %s\n", entry == (unsigned long)_start ? "yes" : "no");
	if (entry != (unsigned long)_start)
		fail("AT_ENTRY != &_start");

	return failed;
}
