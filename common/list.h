/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Intrusive doubly linked lists, in the style of systemd's list.h: an object is on a list
 * through its own `prev` and `next` fields, and the list's head is a plain pointer to the first
 * object (NULL when empty). Prepending and removing are O(1) and allocate nothing. An object is
 * on at most one list through these fields.
 */
#pragma once

#include <stdbool.h>

/* Puts item at the front of the list whose head is `head` (an lvalue, e.g. s->connections). */
#define LIST_PREPEND(head, item)                                                                   \
        do {                                                                                       \
                __typeof__(*(head)) **_head = &(head), *_item = (item);                            \
                _item->prev = NULL;                                                                \
                _item->next = *_head;                                                              \
                if (*_head)                                                                        \
                        (*_head)->prev = _item;                                                    \
                *_head = _item;                                                                    \
        } while (0)

/* Whether item is on the list (it is, or was never unlinked, if either neighbour is set). */
#define LIST_LINKED(head, item) ((item)->prev || (item)->next || (head) == (item))

/* Takes item off the list; an item that is on no list is left alone (destructors of
 * half-built objects may call it). */
#define LIST_REMOVE(head, item)                                                                    \
        do {                                                                                       \
                __typeof__(*(head)) **_head = &(head), *_item = (item);                            \
                if (_item->next)                                                                   \
                        _item->next->prev = _item->prev;                                           \
                if (_item->prev)                                                                   \
                        _item->prev->next = _item->next;                                           \
                else if (*_head == _item)                                                          \
                        *_head = _item->next;                                                      \
                _item->prev = _item->next = NULL;                                                  \
        } while (0)
