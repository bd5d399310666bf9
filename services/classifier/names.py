"""Name lexicons: given names and surnames common in UK schools, words that are also names, public figures.

Hand-curated, not drawn from any corpus: given names across the communities of English
schools (British, Irish, Welsh, Scottish, Polish and other European, South Asian, Arabic,
Somali, West African, Caribbean, Chinese, Vietnamese, Jewish, Turkish), for children and adults.
"""
from __future__ import annotations


def _words(*chunks: str) -> frozenset[str]:
    return frozenset(w.lower() for chunk in chunks for w in chunk.split())


FIRST_NAMES = _words(
    # British / Irish / Scottish / Welsh (children and adults)
    """Aaron Abbie Abby Abigail Ada Adam Adele Adrian Aidan Aiden Aimee Alan Albert Albie Alex Alexa Alexander
    Alexandra Alexis Alfie Alfred Alice Alicia Alison Alistair Alyssa Amanda Amber Amelia Amelie Amy Andrea
    Andrew Andy Angela Angus Anna Annabel Annabelle Anne Annie Anthony Antony Archie Arlo Arthur Ashley Ashton
    Aston Aubrey Austin Ava Barbara Barney Beatrice Beau Becky Bella Ben Benjamin Bernard Beth Bethan Bethany
    Betsy Betty Billy Blake Bobby Bonnie Brandon Brendan Brian Bridget Brodie Brooke Bruce Bryony Caitlin
    Caleb Callum Calum Calvin Cameron Camilla Cara Carl Carla Carly Caroline Carrie Casey Cassie Catherine
    Cathy  Charlie Charlotte Chelsea Cheryl Chloe Chris Christina Christine Christopher Ciara Claire
    Clara Clare Colin Connie Connor Conor Corey Craig Daisy Dale Damian Dan Daniel Danielle Danny Darcey Darcie
    Darcy Darren Dave David Dawn Dean Debbie Deborah Declan Denise Dennis Derek Dexter Diana Diane Dominic
    Donna Dorothy Douglas Dylan Eddie Edith Edward Eileen Elaine Eleanor Eli Elijah Elise Eliza Elizabeth Ella
    Ellie Elliot Elliott Eloise Elsa Elsie Emilia Emily Emma Eric Erin Esme Ethan Eva Evan Evelyn Evie Ezra
    Faye Felicity Felix Fergus Finlay Finley Finn Fiona Florence Frankie Fraser Freddie Freddy Frederick Freya
    Gabriel Gabriella Gail Gareth Gary Gavin Gemma Geoff Geoffrey George Georgia Georgie Gerald Gillian Gina
    Glenn Gordon Graham Gregory Hallie Hannah Harley Harper Harriet Harrison Harry Harvey Hayden Hayley Heather
    Heidi Helen Henry Hollie Howard Hugh Hugo Ian Imogen Isaac Isabel Isabella Isabelle Isla Isobel Jack
    Jackie Jackson Jacob Jacqueline Jake James Jamie Jane Janet Janice Jasmine Jason Jayden Jayne Jeff
    Jemima Jenna Jennifer Jenny Jeremy Jessica Jessie Jill Jim Jimmy Joan Joanna Joanne Jodie Joe Joel Joey
    John Johnny Jon Jonathan Jordan Joseph Josephine Josh Joshua Josie Jude Judith Judy Julia Julian Julie
    Justin Karen Karl Kate Katherine Kathleen Kathryn Katie Katy Kayla Kayleigh Keira Keith Kelly Kenneth
    Kerry Kevin Kian Kieran Kim Kimberley Kirsty Kyle Lacey Laura Lauren Layla Leah Lee Leigh Leighton Leo
    Leon Leonard Leonardo Lesley Leslie Lewis Lexi Lexie Liam Libby Lilly Lily Lindsay Lindsey Linda Lisa
    Lizzie Logan Lois Lola Lorna Lottie Louie Louis Louise Luca Lucas Lucy Luke Lydia Lyla Lynn Lynne Maddison
    Maddie Madeleine Madison Maisie Malcolm Mandy Margaret Maria Marie Marion Martin Martha Mary Matilda Matt
    Matthew Maureen Megan Melanie Melissa Mia Michael Michaela Michelle Mike Millie Milly Miriam Mollie Molly
    Morgan Nancy Naomi Natalie Natasha Nathan Nathaniel Neil Nicholas Nicola Nicole Niamh Nigel Noah Norman
    Oliver Olivia Ollie Orla Oscar Owen Paige Pamela Patrick Paul Paula Pauline Peter Petra Philip Phillip
    Phoebe Piper Poppy Rachel Rebecca Reece  Rhiannon Rhys Richard Rick Riley Rita Robert Robyn Rory
    Rosie Ross Rowena Roxanne Ruairi Rupert Ruth Ryan Sadie Sally Sam Samantha Samuel Sandra Sara Sarah Scarlett
    Scott Sean Sebastian Seren Shannon Sharon Shaun Sheila Shirley Sian Sienna Simon Sinead Sofia Sophia Sophie
    Stacey Stanley Stella Stephanie Stephen Steve Steven Stuart Susan Suzanne Sylvia Tamsin Tania Tanya Tara
    Teddy Teresa Terry Thea Theo Theodore Thomas Tia Tilly Timothy Tina Toby Tom Tommy Tony Tracey Tracy Trevor
    Tyler Valerie Vanessa Vicky Victoria Vincent Wayne Wendy William Wyatt Yvonne Zac Zach Zachary Zak Zara
    Zoe Zoey Aine Aoife Ciaran Cillian Eoin Niall Oisin Padraig Roisin Saoirse Siobhan Tadhg Caoimhe Eilidh
    Iona Morag Ailsa Kirsten Dafydd Gethin Iwan Rhodri Gwen Ffion Elin Carys Nia Osian Lowri Mabli Emrys Heledd
    Sion Mali Mae Ronnie Arlo Rafferty Otis  Hector Monty  Margot Clementine  Esther
      Edie Ivy Orla Sonny Frank  Harlow Ellis Kit Reuben Ruben Jenson Kai Kobe Alba Aria Arya
    Ayla Maya Mya Nova Luna Aurora Bonnie Ezra Rowan Sasha Jesse Jody Robin Charlie Frankie Stevie Alexis Remi
     Ralph Rex Roman Ronan Rohan Dean Carol Janelle Hayley Leanne Yvette Gail Kerry Lorraine Stacy Tracey
     Noel""",
    # Polish, Lithuanian, Romanian, Portuguese, Spanish, Italian, other European
    """Agata Agnieszka Aleksander Aleksandra Amelia Anatol Aniela Antoni Bartosz Beata Dawid Dominika Filip
    Franciszek Hanna Igor Jakub Jan Julia Kacper Kamil Karol Karolina Katarzyna Kinga Krzysztof Lena Maciej
    Magdalena Maja Marcel Marcin Mateusz Michal Mikolaj Natalia Nikola Oliwia Oskar Patryk Paulina Piotr
    Szymon Tomasz Wiktor  Wojciech Zofia Zuzanna Zuzia  Lukasz Tadas Rokas Matas Ugne Gabija
    Andrei Alexandru Bianca Ionut Mihai Ioana Andreea Darius Stefan Tudor Vlad Beatriz Ines Tiago Rafael
    Joao Goncalo Duarte Mariana Leonor Rodrigo Diogo Francisco Carlos Pedro Miguel Sofia Lucia Pablo Alejandro
    Javier Marta Elena Giulia Marco Matteo Alessandro Francesca Giorgia Lorenzo Chiara Enzo Luca Milan Jonas
    Niklas  Anja Katya Dmitri Ivan Olga Nikita Aleksei Yana Daria Artem Emil Elias Anton Oksana Bogdan
    Klara Petr Tereza Adela Nikolai Ana Eva Kristina Liliana Sara Tomas Marek Matej Roza""",
    # South Asian (Hindu, Sikh, Muslim), Arabic, Turkish, Kurdish, Persian, Afghan
    """Aarav Aarush Aditi Aditya Ahmed Aisha Ayesha Akash Ali Alina Amaan Aman Amir Amira Anaya Anika Anjali
    Ananya Arjun Arnav Aryan Asha Ashok Avani Ayaan Ayan Ayaat Dev Dhruv Diya Divya Farah Fatima Fatma Gurpreet
    Gurdeep Harpreet Harjit Hamza Haris Hassan Husna Ibrahim Ifra Inaaya Inaya Isha Ishaan Ishaq Jaskaran
    Jasleen Jaspreet Kabir Karan Kavya Krish Krishna Kiran Laila Maryam Mariam Meena Mehmet Mohammed Mohammad
    Muhammad Mohamed Musa Mustafa Naveed Navneet Neha Nikhil Nimra Noor Nur Omar Parveen Pooja Priya Priyanka
    Rahul Ravi Rehan Reyansh Riya Rohan Ruqayyah Rubina Saanvi Sahil Sakina Sami Samina Sana Sanjay Sara Shreya
    Simran Sunita Suraj Tahir Tanvi Umar Usman Vihaan Vikram Yahya Yasmin Yasmine Yusuf Yousef Yousuf Zain
    Zainab Zahra Zayn Zayan Zeeshan Zoya Abdul Abdullah Adnan Ahmad Aliyah Aaliyah Amna Anwar Arham Asif Ayaz
    Bilal Danyal Eesa Eman Faisal Farhan Habib Hafsa Hana Hiba Humaira Idris Ilyas Imran Iqra Irfan Ismail
    Jamal Kashif Khadija Layla Leila Maaz Mahnoor Malik Maha Minahil Mustafe Nabil Nadia Naila Nasir Nawal
    Rayyan Rashid Rizwan Safa Saima Salma Samir Sara Shabana Shahid Sohail Sumaya Tariq Yasir Zaid Zakariya
    Zara Elif Emre Yusuf Mert Deniz Ece Zeynep Aylin Baran Rojin Dilan Sherzad Darya Parisa Reza Dariush Farid
    Hamid Shirin Soraya Ahmadi Rustam Harjot Manpreet Sukhdeep Balvinder Rajinder Paramjit Amrit Gurleen Arun
    Anil Deepak Nisha Pritesh Rajesh Sunil Vijay Anita Geeta Kamal Kamala Lakshmi Meera Padma Radha Seema
    Shanti Usha Naveen Suresh Vikas Aadam Aadil Ayaan Aizah""",
    # Somali, West/East African, Caribbean
    """Abdi Abdirahman Abdirizak Abdullahi Ayan Hodan Ifrah Hibo Sahra Sagal Sahal Warsame Idil Nimco Nasra
    Faduma Fartun Muna Bilan Ahmed Liban Hamse Guled Mahad Ilhan Ayaan Abena Adaeze Adaora Adebayo Adeola
    Ade Adwoa Afia Akosua Akua Amara Amma Chidi Chidinma Chidera Chiamaka Chinedu Chioma Chukwuemeka Ebuka
     Ekow Emeka Esi Femi Folake Funke Funmi Ifeoma Ijeoma Ikenna Kemi Kofi Kojo Kwabena Kwame Kwaku Kwesi
    Ngozi Nkechi Nnamdi Obi Obinna Oluwaseun Oluwatobi Olamide Seun Simi Tobi Tobenna Temi Tolu Tunde Uche
    Yaw Yemi Yetunde Zainab Bukola Bisi Dayo Damilola Ayo Ayodele Kehinde Taiwo Nneka Tiwa Chisom Adanna
    Ama Kojo Nana Esther Blessing Precious Praise Favour Mercy Marvellous Daniella Tremaine Marcus Jermaine
     Andre Deshawn Jamal Malik Kareem Shanice Tanisha Janelle Leroy Delroy Winston Errol Marlon Kadeem
    Nia Imani Zuri Amani Makena Wanjiru Achieng Otieno Kibet""",
    # Chinese, Vietnamese, other East/South-East Asian; Jewish; misc
    """Jun Hao Wei Xiaoling Mei Li Ling Yan Yi Xin Yu Zhen Jia Jing Lei Ming Ying Hui Bo Chen Xiu Minh Khoa Linh
    Lan Anh Huong Trang Thanh Tuan Duc Quang Hoa Phuong Nam Hieu Bao Thu Ngoc Kenji Hiroshi Yuki Haruto Sora
    Min Seo Ji Hyun Joon Arif Siti Nur Putri Ahmad Ravi Talia Asher Ezra Levi Noa Yael Eliana Eli Moshe Shira
    Tamar Avi Yosef Rivka Chaya Menachem Ari Aviva Shoshana Dov Miriam Naomi Reuben Gideon Eitan Hadassah
    Yehuda Baruch Zev Tova Leora""")

# Names that are also ordinary words, months or school vocabulary: a match needs stronger evidence.
ORDINARY_WORD_NAMES = _words(
    """Will May June April August Summer Autumn Winter Grace Hope Faith Joy Rose Lily Poppy Daisy Holly Ivy
    Hazel Rowan Willow Jasmine Amber Ruby Pearl Jade Crystal Bill Mark Frank  Drew Rich Sue Pat Dawn Eve
    Robin Jay Grant Sky River Storm Star Angel Sunny Honey Precious Blessing Miracle Gift Patience Charity Destiny
    Harmony Melody Trinity Genesis Haven Chase Hunter Mason Bailey Taylor Carter Cooper Parker Tanner Reed
    Heath Dale Glen Brook Brooke Lane Cliff Art Victory Chance Ray Guy Nick Sandy Penny Ginger Sage Ash Iris
    Violet Olive Saffron Marigold Clementine Kit Max Don Carol Noel Christian Justice Liberty Unity Serenity
    Rain Ocean Blue Misty Candy Cherry Hero Lucky Happy Mercy Praise Favour Marvellous Nova Luna Aurora Sol
    Royal King Prince Duke Earl Major Bo Li Ji Min Nam Jack  Lee Miles Sterling Ellis Jordan Florence
    Victoria Albert Sydney Paris Chelsea Austin Devon Kerry Carlos Jersey Lincoln Kent Milan India Georgia""")

SURNAMES = _words(
    """Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright
    Walker White Edwards Hughes Green Hall Lewis Harris Clarke Clark Patel Jackson Wood Turner Martin Cooper
    Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker
     Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller
    Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb
    Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight  Butler
    Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson
    Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole
    Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose  Perry Ryan  Wells Armstrong
    Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page  Riley Dunn Woods
    Parsons Berry Stone  Holland Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson
    Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross
    Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald MacDonald Yates Hodgson Robson Curtis
    Hopkins O'Connor Harper Coleman Watkins  McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler Potter
    Osborne Johnston Gordon  Wallace George Jordan Hutchinson Rowe Burke May  Gilbert Willis
    Higgins Read Miles Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt Barber Nelson Slater Austin
    Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch Goodwin Barton Woodward Thomson Cunningham
    Quinn Barnett Baxter Bibi Clayton Nash Greenwood Jennings Holt Kemp Poole Gallagher Bond Stokes Tucker Davidson
    Fowler Heath Norman Middleton Lawson Banks French Stanley Jarvis Gibbs Ferguson Hayward Carroll Douglas Dickinson
    Todd Barlow Peters Lucas Knowles Hartley Miah Simmons Morton Alexander Field Morrison Norris Townsend
    Preston Hancock  Baldwin Burrows Briggs Storey Pugh Abbott Rahman Iqbal Hussein Chowdhury Uddin
    Islam Rashid Malik Mahmood Aziz Sheikh Qureshi Mirza Chaudhry Javed Sharma Kumar Gupta Mistry Parmar Mehta
    Joshi Desai Bains Dhillon Sandhu Gill Sidhu Johal Sohal Nair Menon Pillai Reddy Rao Iyer Das Bose Sen
    Okafor Okonkwo Adeyemi Ogunleye Oyelaran Boateng Mensah Asante Owusu Osei Appiah Kamara Sesay Conteh Bangura
    Jama Mohamud Warsame Farah Abdi Hassan Omar Yusuf Adebayo Adeleke   Eze Obi Onyeka  
    Nowak Kowalski Kowalska Wojcik Kaminski Kaminska Lewandowski Zielinski Wozniak Mazur Krawczyk Kaczmarek
    Petrauskas Kazlauskas Popescu Ionescu Santos Ferreira Costa Silva Pereira Oliveira Rodrigues Martins Sousa
    Fernandes Gomes Lopes Garcia Rossi Russo Bianchi Romano Chen Zhang Wang Liu Li Yang Huang Zhao Wu Zhou Lin
    Nguyen Tran Pham Le Hoang Vu Dang Bui Do Ho Ngo Duong Ly Cohen Levy Shapiro Goldberg Friedman Katz Klein
    Rosenberg Levi Yilmaz Demir Kaya Celik Sahin Ozturk Clarke-Reid Okoye""")

# Titles: the next capitalised word(s) are a surname (or first name + surname).
TITLES = frozenset("""mr mrs ms miss mx dr prof pc pcso dc ds di sgt rev revd reverend fr father pastor imam rabbi canon
    vicar sir dame""".split())
# Words that make a possessive name a business ("Chloe's Bakery"), not a person.
BUSINESS_WORDS = _words("""Bakery Cafe Café Shop Stores Store Ltd Limited Pharmacy Salon Kitchen Garage Gym Studio
    Studios Restaurant Takeaway Pizza Butchers Florist Boutique Emporium Market Services Catering Coaches Taxis
    Cars Dental Opticians Vets Barbers Books Bookshop Toys Kids Club Academy Foundation Trust Fund Appeal""")
# Words that make the preceding capitalised word part of a place or organisation, not a person.
ORG_SUFFIXES = _words(
    """School Primary Academy College High Infants Infant Juniors Junior Nursery Park Road Street Lane Avenue
    Close Drive Terrace Way Crescent Court Place Gardens Grove Walk Row Hill Rise Mews Square Green Parade
    Centre Center Hospital Surgery Practice Project Fields Field Bank Library Museum Trust Service Services
    Team Club Class House Hall Church Mosque Masjid Gurdwara Temple Synagogue Clinic Council Department Office
    Group Room Week Day Month Fair Fete Festival Assembly Award Awards Cup League Theatre Stadium Zoo Farm
    Centre Campus Building Block Wing Unit Hub Base Corner Garden Gate Bridge Station Airport University Uni
    Cathedral Chapel Foundation Federation Partnership Board Agency Authority Care Class's Term Holiday Holidays
    Camp Show Concert Choir Band Orchestra Stars Award Prize Rockstars Quest Challenge Act Street's Road's""")
# Capitalised words that are never a surname after a given name.
NOT_SURNAME = ORG_SUFFIXES | _words(
    """Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July
    August September October November December Year Reception Key Stage The And Or But To From With For In
    On At By Of Is Has Was Will Can Could Should Would Did Does Please Thanks Thank Dear Hi Hello Mr Mrs Ms
    Miss Dr PE RE DT ICT PSHE RSE SEN SEND SENCo EHCP DSL UK NHS GP MASH CAMHS English Maths Science History
    Geography French Spanish Music Art Computing Also Today Tomorrow Yesterday Tonight Christmas Easter Diwali
    Eid Ramadan Hanukkah Autumn Spring Summer Winter Term All Everyone Both Who What When Where Why How Then
    So If It He She They We You I My Our Your His Her Their Class Group""")
# Words before a name that make it a public, historical or fictional figure rather than a private person.
FIGURE_PREFIXES = frozenset(
    """st saint king queen prince princess lord lady sir dame captain pope
    president guru prophet emperor empress general admiral""".split())
PUBLIC_FIGURES = frozenset(n.lower() for n in """
Roald Dahl|Julia Donaldson|David Walliams|Michael Morpurgo|Ted Hughes|Jacqueline Wilson|Anthony Browne|
Shirley Hughes|Michael Rosen|Malorie Blackman|Philip Pullman|Lewis Carroll|Charles Dickens|
William Shakespeare|Beatrix Potter|Eric Carle|Oliver Jeffers|Cressida Cowell|Onjali Rauf|Jeff Kinney|
Enid Blyton|Allan Ahlberg|Judith Kerr|Raymond Briggs|Axel Scheffler|Quentin Blake|Katherine Rundell|
Frank Cottrell-Boyce|Liz Pichon|Dav Pilkey|Rudyard Kipling|Mary Seacole|Florence Nightingale|Walter Tull|
Rosa Parks|Martin Luther King|Nelson Mandela|Winston Churchill|Grace Darling|Emmeline Pankhurst|Guy Fawkes|
Neil Armstrong|Tim Peake|Mae Jemison|Charles Darwin|Isaac Newton|Albert Einstein|Marie Curie|Mary Anning|
Ada Lovelace|Alan Turing|Stephen Hawking|Jane Goodall|David Attenborough|Greta Thunberg|Malala Yousafzai|
Marcus Rashford|Serena Williams|Mo Farah|Jessica Ennis|Emma Raducanu|Harry Kane|Lionel Messi|
Barack Obama|Frida Kahlo|Vincent van Gogh|Claude Monet|Pablo Picasso|Andy Warhol|Henri Matisse|
Bob Marley|William Morris|Ernest Shackleton|Amy Johnson|Amelia Earhart|Isambard Kingdom Brunel|
Elizabeth Fry|Joan of Arc|Anne Frank|Mahatma Gandhi|Harriet Tubman|Frederick Douglass|Katherine Johnson|
Tutankhamun|Boudicca|Julius Caesar|Henry VIII|Queen Victoria|Rama|Sita|Ganesh|Hanuman|Krishna and Radha|
Guru Nanak|Guru Gobind Singh|Jesus|Moses|Abraham|Muhammad|Buddha|Siddhartha Gautama|Harry Potter|
Hermione Granger|Paddington|Peter Rabbit|Matilda Wormwood|Charlie Bucket|Willy Wonka|Mr Men|Little Miss|
Kensuke|Stig|Mog|Elmer|Gruffalo|Zog|Greta|Dickens|Shakespeare|Tolkien|Darwin|Newton|Churchill
""".replace("\n", "").split("|") if n.strip())
