#include <stdio.h>
int main(void)
{
	puts("test_shm: not written yet");
	return 1;
}
