// SPDX-License-Identifier: GPL-2.0
/*
 * shmpoke - read or write a 64-bit word in a PCI BAR from userspace through
 * /sys/bus/pci/devices/<BDF>/resourceN, with no driver bound. The harness
 * uses it to prove that two ivshmem devices really share one memory.
 *
 *   shmpoke RESOURCE_FILE OFFSET            print the u64 at OFFSET (hex)
 *   shmpoke RESOURCE_FILE OFFSET VALUE      store VALUE there
 *   shmpoke RESOURCE_FILE size              print the BAR size in bytes
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	volatile uint64_t *w;
	unsigned long long off;
	struct stat st;
	void *p;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: shmpoke RESOURCE OFFSET [VALUE] | RESOURCE size\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_SYNC);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[1]);
		return 1;
	}
	if (!strcmp(argv[2], "size")) {
		printf("%lld\n", (long long)st.st_size);
		return 0;
	}
	off = strtoull(argv[2], NULL, 0);
	if (off % 8 || off + 8 > (unsigned long long)st.st_size) {
		fprintf(stderr, "shmpoke: offset %llu outside the %lld-byte BAR\n",
			off, (long long)st.st_size);
		return 1;
	}
	p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	w = (volatile uint64_t *)((char *)p + off);
	if (argc > 3)
		*w = strtoull(argv[3], NULL, 0);
	else
		printf("0x%016" PRIx64 "\n", *w);
	munmap(p, st.st_size);
	return 0;
}
